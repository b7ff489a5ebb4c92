"""Training cubes for the diffusion lesion generator, cut around every tumour of a dataset.

For each connected tumour component (26-connectivity, at least ``data.min_lesion_ml``):

* a cube of ``n = data.cube_voxels`` voxels per side, axis-aligned with the world (RAS) axes and
  centred on the component's centroid, at isotropic spacing
  ``s = max(data.spacing_mm, 2 (extent + margin_mm) / (n max_fill))`` (mm), ``extent`` the
  largest centroid-to-voxel distance (mm): small lesions at the preset spacing, large ones on a
  coarser cube that still holds them; the scan is resampled onto it trilinearly
  (:func:`scipy.ndimage.affine_transform`, edge values replicated);
* ``target``: the cube in the HU window ``[lo, hi]`` scaled to [-1, 1]:
  ``x = 2 (clip(hu, lo, hi) - lo) / (hi - lo) - 1``;
* ``mask``: the component resampled (trilinear, >= 0.5) and dilated by ``margin_mm``
  (Euclidean distance on the cube);
* ``context``: ``target`` with the masked voxels set to 0;
* ``label``: the class label of its conditions (:func:`~synthtumor.generators.diffusion.model.class_index`).

Splits are patient-level: scans, not lesions, go to validation (:func:`split_case_ids`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from tqdm import tqdm

from synthtumor.case import Case
from synthtumor.errors import DatasetLayoutError
from synthtumor.generators.diffusion.config import DataConfig, DiffusionConfig
from synthtumor.generators.diffusion.model import attenuation_of, class_index, size_class_of
from synthtumor.io.layouts import Dataset

__all__ = [
    "NoLesionsError", "LesionCubes", "hu_to_unit", "unit_to_hu", "cube_spacing_mm", "cube_affine",
    "resample_grid", "resample_to_cube", "cubes_from_case", "split_case_ids", "build_training_cubes",
]


class NoLesionsError(DatasetLayoutError):
    """A dataset holds no tumour to learn from."""


def hu_to_unit(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """HU -> [-1, 1] through the window ``[lo, hi]`` (values outside are clipped)."""
    lo, hi = window
    return (2.0 * (np.clip(hu, lo, hi) - lo) / (hi - lo) - 1.0).astype(np.float32)


def unit_to_hu(x: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """[-1, 1] -> HU (the inverse of :func:`hu_to_unit` inside the window)."""
    lo, hi = window
    return ((np.asarray(x, dtype=np.float32) + 1.0) * np.float32(0.5 * (hi - lo)) + np.float32(lo)).astype(np.float32)


def cube_spacing_mm(extent_mm: float, data: DataConfig) -> float:
    """Cube spacing (mm) for a lesion reaching ``extent_mm`` from its centre (see module docstring)."""
    return max(data.spacing_mm, 2.0 * (extent_mm + data.margin_mm) / (data.cube_voxels * data.max_fill))


def cube_affine(centre_mm: Iterable[float], spacing_mm: float, n: int) -> np.ndarray:
    """The voxel-to-world affine of an ``n``-cube centred on ``centre_mm`` (world axes, mm)."""
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = np.asarray(list(centre_mm), float) - (n - 1) / 2.0 * spacing_mm
    return affine


def resample_grid(volume: np.ndarray, affine: np.ndarray, target_affine: np.ndarray, shape: tuple[int, ...], *,
                  order: int = 1, mode: str = "nearest") -> np.ndarray:
    """Sample ``volume`` (voxel-to-world ``affine``) on the grid ``target_affine`` of ``shape``.

    ``mode="nearest"`` replicates edge values; ``"constant"`` gives 0 outside ``volume``.
    """
    to_voxel = np.linalg.solve(affine, target_affine)
    return ndi.affine_transform(volume, to_voxel[:3, :3], offset=to_voxel[:3, 3], output_shape=tuple(shape),
                                order=order, mode=mode, cval=0.0, prefilter=False)


def resample_to_cube(volume: np.ndarray, affine: np.ndarray, cube: np.ndarray, n: int, *, order: int = 1,
                     mode: str = "nearest") -> np.ndarray:
    """Sample ``volume`` (voxel-to-world ``affine``) on the ``n``-cube with affine ``cube``."""
    return resample_grid(volume, affine, cube, (n, n, n), order=order, mode=mode)


@dataclass(eq=False)
class LesionCubes:
    """Training cubes stacked along the first axis.

    Attributes:
        target: (L, n, n, n) float32 in [-1, 1].
        mask: (L, n, n, n) bool, True where the lesion is generated.
        labels: (L,) int64 class labels (0 without conditioning).
        spacing_mm: (L,) each cube's spacing (mm).
        case_ids: (L,) the scan each cube comes from.
    """

    target: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    spacing_mm: np.ndarray
    case_ids: list[str] = field(default_factory=list)

    @property
    def context(self) -> np.ndarray:
        """The target with the masked region set to 0."""
        return np.where(self.mask, np.float32(0.0), self.target)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @classmethod
    def empty(cls, n: int) -> LesionCubes:
        """No cubes, of side ``n``."""
        return cls(np.zeros((0, n, n, n), np.float32), np.zeros((0, n, n, n), bool),
                   np.zeros(0, np.int64), np.zeros(0, np.float32), [])

    @classmethod
    def concat(cls, parts: list[LesionCubes], n: int) -> LesionCubes:
        """Stack several sets of cubes."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(n)
        return cls(np.concatenate([p.target for p in parts]), np.concatenate([p.mask for p in parts]),
                   np.concatenate([p.labels for p in parts]), np.concatenate([p.spacing_mm for p in parts]),
                   [c for p in parts for c in p.case_ids])

    def select(self, keep: np.ndarray) -> LesionCubes:
        """The cubes where ``keep`` (bool (L,)) is True."""
        return LesionCubes(self.target[keep], self.mask[keep], self.labels[keep], self.spacing_mm[keep],
                           [c for c, k in zip(self.case_ids, keep) if k])

    def save(self, path: Path) -> None:
        """Write as ``.npz`` through a temporary name."""
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, target=self.target, mask=self.mask, labels=self.labels, spacing_mm=self.spacing_mm,
                 case_ids=np.asarray(self.case_ids, dtype=str))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> LesionCubes:
        """Inverse of :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(z["target"], z["mask"], z["labels"], z["spacing_mm"], [str(c) for c in z["case_ids"]])


def _parenchyma_median(case: Case) -> float | None:
    if case.organ is None:
        return None
    keep = case.organ & ~case.tumor
    if case.vessels is not None:
        keep &= ~case.vessels
    return float(np.median(case.image[keep])) if keep.any() else None


def cubes_from_case(case: Case, config: DiffusionConfig) -> LesionCubes:
    """Cut one cube per tumour component of ``case`` (see module docstring)."""
    data, n = config.data, config.data.cube_voxels
    if case.tumor is None or not case.tumor.any():
        return LesionCubes.empty(n)
    components, count = ndi.label(case.tumor, structure=np.ones((3, 3, 3), bool))
    parenchyma = _parenchyma_median(case)
    targets, masks, labels, spacings = [], [], [], []
    for k, box in enumerate(ndi.find_objects(components), start=1):
        own = components[box] == k
        voxels = int(own.sum())
        if voxels * case.voxel_volume_ml < data.min_lesion_ml:
            continue
        start = np.array([s.start for s in box], float)
        ijk = np.argwhere(own) + start
        world = ijk @ case.affine[:3, :3].T + case.affine[:3, 3]
        centre = world.mean(axis=0)
        extent = float(np.linalg.norm(world - centre, axis=1).max()) + 0.5 * max(case.spacing)
        spacing = cube_spacing_mm(extent, data)
        cube = cube_affine(centre, spacing, n)
        hu = resample_to_cube(case.image, case.affine, cube, n)
        box_affine = case.affine.copy()
        box_affine[:3, 3] = case.affine[:3, :3] @ start + case.affine[:3, 3]
        lesion = resample_to_cube(own.astype(np.float32), box_affine, cube, n, mode="constant") >= 0.5
        if not lesion.any():
            lesion[(n // 2,) * 3] = True
        mask = ndi.distance_transform_edt(~lesion, sampling=spacing) <= data.margin_mm
        reference = parenchyma
        if reference is None:
            reference = float(np.median(hu[~mask])) if (~mask).any() else float(np.median(hu))
        contrast = float(case.image[box][own].mean()) - reference
        eq_radius = (3.0 * voxels * case.voxel_volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        labels.append(class_index(config.model.conditioning, size_class=size_class_of(eq_radius),
                                  attenuation=attenuation_of(contrast), phase=case.phase.value))
        targets.append(hu_to_unit(hu, data.hu_window))
        masks.append(mask)
        spacings.append(spacing)
    if not targets:
        return LesionCubes.empty(n)
    return LesionCubes(np.stack(targets), np.stack(masks), np.asarray(labels, np.int64),
                       np.asarray(spacings, np.float32), [case.case_id] * len(targets))


def split_case_ids(case_ids: Iterable[str], val_fraction: float,
                   rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Patient-level split: ``round(val_fraction * scans)`` scans (at least 1 when the fraction
    is positive and there are 2 or more scans, never all) go to validation.

    Returns:
        (train ids, validation ids), each sorted.
    """
    ids = sorted(set(case_ids))
    order = rng.permutation(len(ids))
    n_val = int(round(val_fraction * len(ids)))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = min(max(n_val, 1), len(ids) - 1)
    else:
        n_val = 0
    val = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(val)), val


def build_training_cubes(dataset: Dataset, config: DiffusionConfig, *, quiet: bool = False,
                         load: Callable[[int], Case] | None = None) -> tuple[LesionCubes, LesionCubes]:
    """Cubes of every case of ``dataset``, split by scan into (train, validation).

    Args:
        dataset: from :func:`synthtumor.io.load_dataset`.
        config: the preset (its ``data`` section).
        quiet: no progress bar.
        load: how to read case ``i`` (default ``dataset[i]``).

    Raises:
        NoLesionsError: no case holds a tumour component of at least ``data.min_lesion_ml``.
    """
    load = load or dataset.__getitem__
    parts = []
    for i in tqdm(range(len(dataset)), desc="lesion cubes", unit="case", disable=quiet):
        parts.append(cubes_from_case(load(i), config))
    cubes = LesionCubes.concat(parts, config.data.cube_voxels)
    if not len(cubes):
        raise NoLesionsError(
            f"{dataset.root} ({dataset.layout} layout, {len(dataset)} case(s)) holds no tumour of at least "
            f"{config.data.min_lesion_ml} mL, so there is nothing to train the diffusion model on.",
            fix="train on scans whose labels mark tumours (e.g. Decathlon Task03 or LiTS, label 2), pass "
            "--label-map naming the tumour label value, or lower data.min_lesion_ml.",
        )
    train_ids, val_ids = split_case_ids(cubes.case_ids, config.data.val_fraction,
                                        np.random.default_rng(config.data.split_seed))
    in_val = np.isin(np.asarray(cubes.case_ids), val_ids)
    return cubes.select(~in_val), cubes.select(in_val)
