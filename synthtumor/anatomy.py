"""Prepare a case for lesion placement: masks, coarse distance maps, parenchyma statistics.

Deterministic and cacheable per case (MONAI's CacheDataset caches exactly this step).

Distances for placement are computed on a coarse *placement grid*: the organ's bounding box cut
into blocks of about ``block_mm`` (default 2 mm) per side. Vessel and avoid masks are
max-pooled (a block is "vessel" if any voxel in it is), the organ min-pooled (a block is
"organ" only if every voxel is), so that distances measured between block centres, less one
block half-diagonal, are *lower bounds* of the true voxel distances. Placement uses those
bounds, which is what makes the clearance guarantees exact without a full-resolution distance
transform (about 1.5 s per map on a 1 mm liver; these take tens of milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage as ndi

from synthtumor.case import Case, Phase
from synthtumor.errors import InvalidCaseError

__all__ = ["Prepared", "prepare_case", "vessels_from_hu", "PARENCHYMA_VESSEL_MARGIN_MM"]

#: Parenchyma statistics ignore voxels this close to a vessel or tumour (mm, along each axis).
PARENCHYMA_VESSEL_MARGIN_MM = 3.0
#: HU-threshold vessels: at least this many HU above the parenchyma median ...
VESSEL_MIN_EXCESS_HU = 40.0
#: ... and at least this many robust standard deviations above it.
VESSEL_MIN_EXCESS_SIGMA = 3.0
#: Connected HU-threshold components smaller than this (mL) are noise specks, not vessels.
VESSEL_MIN_COMPONENT_ML = 0.05
_FAR_MM = 1.0e4


@dataclass(eq=False)
class Prepared:
    """What placement and rendering need from one case (see module docstring).

    Attributes:
        case: the input case (never modified); None once detached for caching (see
            :meth:`detached` and :meth:`attach`).
        vessels: the vessel mask used (from labels, or from HU on contrast scans), or None.
        vessel_source: ``"labels"``, ``"hu-threshold"`` or ``"none"``.
        occupied: voxels no lesion may touch: existing tumours and the avoid mask.
        parenchyma_median_hu: median HU of organ voxels away from vessels and tumours.
        parenchyma_mad_hu: their median absolute deviation (HU).
        noise_sigma_hu: robust standard deviation of the parenchyma (1.4826 x MAD; HU): noise
            plus fine texture, the level a lesion's interior must not fall below.
        block_mm: placement block size per axis (mm).
        block_origin: voxel index of the first block's corner.
        block_step: voxels per block along each axis.
        block_centres_mm: (N, 3) world RAS centres of the organ blocks.
        block_dist_boundary_mm: (N,) lower bound of each block centre's distance to the
            outside of the organ (mm).
        block_dist_vessel_mm: (N,) lower bound of the distance to the nearest vessel voxel (mm).
        block_dist_occupied_mm: (N,) lower bound of the distance to the nearest occupied voxel.
        block_half_diagonal_mm: half the diagonal of one block (mm).
        grid_affine: the prepared scan's affine (crops are located against it).
        grid_shape: the prepared scan's shape.
        phase: the scan's contrast phase (kept when the case is detached).
    """

    case: Case | None
    vessels: np.ndarray | None
    vessel_source: str
    occupied: np.ndarray | None
    parenchyma_median_hu: float
    parenchyma_mad_hu: float
    noise_sigma_hu: float
    block_mm: float
    block_origin: np.ndarray
    block_step: np.ndarray
    block_centres_mm: np.ndarray
    block_dist_boundary_mm: np.ndarray
    block_dist_vessel_mm: np.ndarray
    block_dist_occupied_mm: np.ndarray
    block_half_diagonal_mm: float
    grid_affine: np.ndarray
    grid_shape: tuple[int, int, int]
    phase: Phase = Phase.UNKNOWN
    #: Per placement rule set, the blocks sorted by the extent they admit (see
    #: :mod:`synthtumor.lesions.placement`); filled on first use, never copied.
    placement_orders: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def organ(self) -> np.ndarray:
        """The organ mask (never None after preparation)."""
        assert self.case.organ is not None
        return self.case.organ

    @property
    def voxel_half_diagonal_mm(self) -> float:
        """Half the diagonal of one voxel (mm)."""
        assert self.case is not None
        return 0.5 * float(np.linalg.norm(self.case.spacing))

    def detached(self) -> Prepared:
        """This preparation without its case (what a cache keeps beside the image and label)."""
        return replace(self, case=None)

    def attach(self, case: Case, *, copy_masks: bool = True) -> Prepared:
        """This preparation for ``case``: the same scan, or a crop of it on the same voxel grid.

        For a crop, the vessel and occupied masks are cut to it and the placement blocks are
        those whose centres fall inside it (their distances stay those of the whole volume).

        Args:
            case: the full case or a crop of it (same voxel size and axes, integer offset).
            copy_masks: copy the vessel / occupied masks, so drawing in place leaves this
                preparation untouched.

        Raises:
            InvalidCaseError: ``case`` is not on this preparation's voxel grid.
        """
        reference = self.grid_affine
        if not np.allclose(case.affine[:3, :3], reference[:3, :3], atol=1e-4):
            raise InvalidCaseError(
                "the scan was resampled or reoriented after preparation.",
                case=case.case_id,
                fix="put PrepareLesionSynthesisd after Orientationd and Spacingd, not before.",
            )
        offset = np.linalg.solve(reference, case.affine[:, 3])[:3]
        start = np.rint(offset).astype(int)
        if np.abs(offset - start).max() > 1e-3:
            raise InvalidCaseError("the crop is not on the prepared voxel grid.", case=case.case_id)

        def cut(mask: np.ndarray | None) -> np.ndarray | None:
            if mask is None:
                return None
            out = np.zeros(case.shape, dtype=bool)
            src = tuple(slice(max(a, 0), min(a + n, m)) for a, n, m in zip(start, case.shape, mask.shape))
            dst = tuple(slice(s.start - a, s.stop - a) for s, a in zip(src, start))
            if all(s.stop > s.start for s in src):
                out[dst] = mask[src]
            return out

        same_grid = case.shape == tuple(self.grid_shape) and not start.any()
        if same_grid:
            vessels = self.vessels.copy() if (copy_masks and self.vessels is not None) else self.vessels
            occupied = self.occupied
            keep = slice(None)
        else:
            vessels, occupied = cut(self.vessels), cut(self.occupied)
            inv = np.linalg.inv(case.affine)
            # per axis in elementwise arithmetic: a BLAS product of ~10^5 x 3 by 3 x 3 costs tens of
            # ms under a multi-threaded BLAS on a busy machine (2 ms single-threaded)
            centres = self.block_centres_mm
            keep = np.ones(len(centres), dtype=bool)
            for axis in range(3):
                row = inv[axis]
                ijk = centres[:, 0] * row[0] + centres[:, 1] * row[1] + centres[:, 2] * row[2] + row[3]
                keep &= (ijk >= -0.5) & (ijk <= case.shape[axis] - 0.5)
        attached = replace(
            self, case=case, vessels=vessels, occupied=occupied,
            block_centres_mm=self.block_centres_mm[keep],
            block_dist_boundary_mm=self.block_dist_boundary_mm[keep],
            block_dist_vessel_mm=self.block_dist_vessel_mm[keep],
            block_dist_occupied_mm=self.block_dist_occupied_mm[keep],
        )
        if same_grid:  # the same blocks: share the placement orders (sorted once per preparation)
            attached.placement_orders = self.__dict__.setdefault("placement_orders", {})
        return attached


def vessels_from_hu(case: Case, median_hu: float, sigma_hu: float) -> np.ndarray:
    """Vessels of a contrast-enhanced scan: bright organ voxels, cleaned of specks.

    A voxel is vessel if it lies in the organ and its HU exceeds the parenchyma median by
    ``max(40 HU, 3 x sigma)``; components smaller than 0.05 mL are dropped.
    """
    assert case.organ is not None
    threshold = median_hu + max(VESSEL_MIN_EXCESS_HU, VESSEL_MIN_EXCESS_SIGMA * sigma_hu)
    bright = case.organ & (case.image > threshold)
    labels, n = ndi.label(bright, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return bright
    sizes = np.bincount(labels.ravel())[1:] * case.voxel_volume_ml
    keep = np.concatenate([[False], sizes >= VESSEL_MIN_COMPONENT_ML])
    return keep[labels]


def _parenchyma_stats(case: Case, exclude: np.ndarray | None) -> tuple[float, float]:
    organ = case.organ
    assert organ is not None
    parenchyma = organ
    if exclude is not None and exclude.any():
        spacing = np.array(case.spacing)
        margin = np.maximum(1, np.ceil(PARENCHYMA_VESSEL_MARGIN_MM / spacing)).astype(int)
        box = _bbox(organ, margin)
        # within the margin of an excluded voxel along every axis: a cube of half-width
        # ceil(margin / spacing) voxels, a separable maximum filter (a tenth of the time of a
        # ball's dilation or a distance transform on a liver's box; these are only statistics)
        near = ndi.maximum_filter(exclude[box], size=tuple(2 * margin + 1))
        parenchyma = organ.copy()
        parenchyma[box] &= ~near
        if parenchyma.sum() < 0.1 * organ.sum():  # dense vessels: fall back to the organ
            parenchyma = organ & ~exclude
    values = case.image[parenchyma]
    if values.size == 0:
        values = case.image[organ]
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return median, mad


def _bbox(mask: np.ndarray, margin) -> tuple[slice, ...]:
    """The box of ``mask``'s True voxels grown by ``margin`` voxels (from the per-axis
    projections: one pass per axis instead of listing every voxel)."""
    margin = np.broadcast_to(np.asarray(margin), (mask.ndim,))
    out = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        lo, hi = (int(hits[0]), int(hits[-1]) + 1) if hits.size else (0, 0)
        out.append(slice(max(lo - int(margin[axis]), 0), min(hi + int(margin[axis]), mask.shape[axis])))
    return tuple(out)


def _pool(mask: np.ndarray, step: np.ndarray, mode: str) -> np.ndarray:
    """Block-reduce a boolean array (any / all per block), padding the edge blocks."""
    pad = [(0, int((-n) % s)) for n, s in zip(mask.shape, step)]
    padded = np.pad(mask, pad, constant_values=False)
    nx, ny, nz = (n // s for n, s in zip(padded.shape, step))
    blocks = padded.reshape(nx, step[0], ny, step[1], nz, step[2])
    return blocks.any(axis=(1, 3, 5)) if mode == "any" else blocks.all(axis=(1, 3, 5))


def prepare_case(case: Case, *, block_mm: float = 2.0, use_hu_vessels: bool = True) -> Prepared:
    """Compute what placement needs (see module docstring).

    Args:
        case: a case with an organ mask.
        block_mm: placement block size (mm); smaller is more exact and slower.
        use_hu_vessels: on contrast-enhanced scans without vessel labels, find vessels by HU.

    Raises:
        InvalidCaseError: the case has no organ mask, or vessels cover the whole organ.
    """
    if case.organ is None:
        raise InvalidCaseError(
            "the case has no organ mask, so there is nowhere to place lesions.",
            case=case.case_id,
            fix="load it with a label map that names the organ (e.g. --label-map totalsegmentator), "
            "or add an organ mask (Decathlon Task08 has none: segment the liver first).",
        )
    tumor_or_avoid = _union(case.tumor, case.avoid)
    vessels, source = case.vessels, "labels" if case.vessels is not None else "none"
    median, mad = _parenchyma_stats(case, _union(vessels, tumor_or_avoid))
    if vessels is None and use_hu_vessels and case.phase.is_contrast_enhanced:
        vessels = vessels_from_hu(case, median, 1.4826 * mad)
        source = "hu-threshold"
        median, mad = _parenchyma_stats(case, _union(vessels, tumor_or_avoid))
    if vessels is not None and not (case.organ & ~vessels).any():
        raise InvalidCaseError(
            "the vessel mask covers the whole organ; no parenchyma is left for lesions.",
            case=case.case_id,
            fix="check the label map: a vessel value may also have been listed as organ only.",
        )

    spacing = np.array(case.spacing)
    step = np.maximum(1, np.rint(block_mm / spacing)).astype(int)
    margin = step * 2
    box = _bbox(case.organ, margin)
    origin = np.array([s.start for s in box])
    organ_blocks = _pool(case.organ[box], step, "all")
    block_spacing = spacing * step

    def lower_bound(blocked: np.ndarray) -> np.ndarray:
        if not blocked.any():
            return np.full(organ_blocks.shape, _FAR_MM, dtype=np.float32)
        return ndi.distance_transform_edt(~blocked, sampling=block_spacing).astype(np.float32)

    empty = np.zeros_like(organ_blocks)
    d_boundary = ndi.distance_transform_edt(organ_blocks, sampling=block_spacing).astype(np.float32)
    d_vessel = lower_bound(_pool(vessels[box], step, "any") if vessels is not None else empty)
    d_occupied = lower_bound(_pool(tumor_or_avoid[box], step, "any") if tumor_or_avoid is not None else empty)
    ijk = np.argwhere(organ_blocks)
    centres_vox = origin + ijk * step + (step - 1) / 2.0
    centres_mm = (case.affine[:3, :3] @ centres_vox.T).T + case.affine[:3, 3]
    index = tuple(ijk.T)
    # anything outside the box is at least as far as the box's edge
    lo = np.array([s.start for s in box]) - 1
    hi = np.array([s.stop for s in box])
    to_edge = np.minimum((centres_vox - lo) * spacing, (hi - centres_vox) * spacing).min(axis=1)
    half_diag = 0.5 * float(np.linalg.norm(block_spacing))
    # a centre drawn anywhere in its block loses up to two half-diagonals against block centres
    slack = 2.0 * half_diag
    return Prepared(
        case=case,
        vessels=vessels,
        vessel_source=source,
        occupied=tumor_or_avoid,
        parenchyma_median_hu=median,
        parenchyma_mad_hu=mad,
        noise_sigma_hu=1.4826 * mad,
        block_mm=float(block_mm),
        block_origin=origin,
        block_step=step,
        block_centres_mm=np.ascontiguousarray(centres_mm, dtype=np.float64),  # rows gathered per draw
        block_dist_boundary_mm=np.maximum(d_boundary[index] - slack, 0.0),
        block_dist_vessel_mm=np.maximum(_capped(d_vessel[index], to_edge, vessels, box) - slack, 0.0),
        block_dist_occupied_mm=np.maximum(_capped(d_occupied[index], to_edge, tumor_or_avoid, box) - slack, 0.0),
        block_half_diagonal_mm=half_diag,
        grid_affine=case.affine.copy(),
        grid_shape=case.shape,
        phase=case.phase,
    )


def _capped(distance: np.ndarray, to_edge: np.ndarray, mask: np.ndarray | None, box: tuple[slice, ...]) -> np.ndarray:
    """Cap distances by the box's edge only where the mask has voxels outside the box."""
    if mask is None or int(mask.sum()) == int(mask[box].sum()):
        return distance
    return np.minimum(distance, to_edge)


def _union(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b
