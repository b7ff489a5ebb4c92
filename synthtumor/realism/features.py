"""Per-lesion features of a case: size, shape, contrast, texture and edge.

A lesion is a 26-connected component of the case's tumour mask
(:func:`synthtumor.metrics.label_lesions`). Components smaller than ``min_volume_ml``
(0.05 mL) are skipped and counted: their shape and texture are mostly voxelisation. Each lesion
is measured inside its bounding box grown by ``ceil(max(shell, profile range) / spacing) + 1``
voxels per axis, never on the whole scan. Tissue around a lesion is the organ minus every
tumour voxel and every vessel voxel; a case without an organ mask uses every voxel that is no
tumour and no vessel.

=========================  =======  =====================================================
feature                    unit     definition
=========================  =======  =====================================================
``volume_ml``              mL       voxel count x voxel volume
``equivalent_radius_mm``   mm       ``(3 V / (4 pi))^(1/3)``
``sphericity``             1        :mod:`synthtumor.realism.shape`
``irregularity``           1        mesh area / convex-hull area (shape module)
``contrast_hu``            HU       lesion mean - 5 mm shell mean (intensity module)
``std_hu``                 HU       standard deviation inside the lesion
``glcm_contrast``          level^2  GLCM contrast (intensity module)
``glcm_homogeneity``       1        GLCM homogeneity (intensity module)
``edge_width_mm``          mm       10-90 % rise of the radial profile (:mod:`~synthtumor.realism.edge`)
=========================  =======  =====================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthtumor.case import Case
from synthtumor.errors import ConfigError
from synthtumor.metrics import equivalent_radius_mm, label_lesions
from synthtumor.metrics._crop import bounding_box
from synthtumor.realism.edge import edge_width_mm, signed_distance_mm
from synthtumor.realism.intensity import glcm_texture, internal_std_hu, shell_contrast_hu
from synthtumor.realism.shape import lesion_shape

__all__ = ["FEATURES", "FEATURE_UNITS", "FeatureSettings", "CaseFeatures", "lesion_features", "case_features"]

FEATURE_UNITS: dict[str, str] = {
    "volume_ml": "mL",
    "equivalent_radius_mm": "mm",
    "sphericity": "1",
    "irregularity": "1",
    "contrast_hu": "HU",
    "std_hu": "HU",
    "glcm_contrast": "level^2",
    "glcm_homogeneity": "1",
    "edge_width_mm": "mm",
}
FEATURES: tuple[str, ...] = tuple(FEATURE_UNITS)


@dataclass(frozen=True)
class FeatureSettings:
    """How lesions are measured (see the module docstrings for each feature).

    Attributes:
        min_volume_ml: lesions below this volume (mL) are skipped and counted.
        shell_mm: shell thickness (mm) for the contrast.
        glcm_window_hu: HU window (lo, hi) quantised for the GLCM.
        glcm_levels: GLCM grey levels.
        profile_range_mm: the radial profile spans -range..+range mm.
        profile_bin_mm: radial profile bin width (mm).
        plateau_mm: inner / outer plateaus start this far (mm) from the surface.
        min_edge_contrast_hu: below this plateau difference (HU) the edge width is NaN.

    Raises:
        ConfigError: a value is out of range.
    """

    min_volume_ml: float = 0.05
    shell_mm: float = 5.0
    glcm_window_hu: tuple[float, float] = (-100.0, 300.0)
    glcm_levels: int = 32
    profile_range_mm: float = 6.0
    profile_bin_mm: float = 0.5
    plateau_mm: float = 3.0
    min_edge_contrast_hu: float = 10.0

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.glcm_window_hu)
        object.__setattr__(self, "glcm_window_hu", (lo, hi))
        checks = [
            (math.isfinite(self.min_volume_ml) and self.min_volume_ml >= 0, "min_volume_ml must be >= 0 mL"),
            (math.isfinite(self.shell_mm) and self.shell_mm > 0, "shell_mm must be > 0 mm"),
            (math.isfinite(lo) and math.isfinite(hi) and hi > lo, "glcm_window_hu needs lo < hi (HU)"),
            (isinstance(self.glcm_levels, int) and 2 <= self.glcm_levels <= 254, "glcm_levels must be 2..254"),
            (math.isfinite(self.profile_bin_mm) and self.profile_bin_mm > 0, "profile_bin_mm must be > 0 mm"),
            (math.isfinite(self.profile_range_mm) and self.profile_range_mm >= 2 * self.profile_bin_mm,
             "profile_range_mm must span at least two bins"),
            (0 < self.plateau_mm < self.profile_range_mm, "plateau_mm must lie in (0, profile_range_mm)"),
            (self.min_edge_contrast_hu >= 0, "min_edge_contrast_hu must be >= 0 HU"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"realism feature settings: {message}.", fix="use the defaults of FeatureSettings.")

    def margin_voxels(self, spacing: Sequence[float]) -> tuple[int, ...]:
        """Voxels added around a lesion's box per axis to hold its shell and profile."""
        reach = max(self.shell_mm, self.profile_range_mm)
        return tuple(int(math.ceil(reach / float(s))) + 1 for s in spacing)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able settings."""
        out = asdict(self)
        out["glcm_window_hu"] = list(self.glcm_window_hu)
        return out


@dataclass(frozen=True)
class CaseFeatures:
    """The measured lesions of one case.

    Attributes:
        case_id: the case.
        rows: one dict per measured lesion: ``case_id``, ``lesion`` (component number, 1-based,
            raster order), ``voxels`` and every name of ``FEATURES``.
        skipped: lesions below ``min_volume_ml``.
    """

    case_id: str
    rows: list[dict[str, Any]]
    skipped: int


def lesion_features(
    image: np.ndarray,
    lesion: np.ndarray,
    tissue: np.ndarray,
    spacing: Sequence[float],
    settings: FeatureSettings | None = None,
) -> dict[str, float]:
    """Every feature of one lesion, measured in a crop that holds it with a margin.

    Args:
        image: HU crop.
        lesion: the lesion's mask in the crop (one connected component).
        tissue: surrounding tissue in the crop (organ, no tumour, no vessel).
        spacing: voxel size per axis in mm.
        settings: measurement settings (defaults when None).

    Returns:
        ``{name: value}`` for every name of ``FEATURES`` (NaN where undefined).

    Raises:
        ValueError: ``lesion`` is empty, or shapes differ.
    """
    s = settings or FeatureSettings()
    image = np.asarray(image)
    lesion, tissue = np.asarray(lesion, dtype=bool), np.asarray(tissue, dtype=bool) & ~np.asarray(lesion, bool)
    if image.shape != lesion.shape or tissue.shape != lesion.shape:
        raise ValueError(f"image, lesion and tissue shapes differ: {image.shape}, {lesion.shape}, {tissue.shape}")
    voxels = int(np.count_nonzero(lesion))
    if voxels == 0:
        raise ValueError("lesion_features: the lesion mask is empty")
    volume_mm3 = voxels * float(np.prod(np.asarray(spacing, dtype=np.float64)))
    shape = lesion_shape(lesion, spacing)
    out = {
        "volume_ml": volume_mm3 / 1000.0,
        "equivalent_radius_mm": equivalent_radius_mm(volume_mm3),
        "sphericity": shape.sphericity,
        "irregularity": shape.irregularity,
        "contrast_hu": math.nan,
        "std_hu": internal_std_hu(image, lesion),
        "glcm_contrast": math.nan,
        "glcm_homogeneity": math.nan,
        "edge_width_mm": math.nan,
    }
    out["glcm_contrast"], out["glcm_homogeneity"] = glcm_texture(
        image, lesion, window_hu=s.glcm_window_hu, levels=s.glcm_levels)
    if lesion.all():
        return out
    distance = signed_distance_mm(lesion, spacing)
    out["contrast_hu"] = shell_contrast_hu(image, lesion, tissue, distance, s.shell_mm)
    out["edge_width_mm"] = edge_width_mm(
        image, distance, lesion, tissue, range_mm=s.profile_range_mm, bin_mm=s.profile_bin_mm,
        plateau_mm=s.plateau_mm, min_contrast_hu=s.min_edge_contrast_hu)
    return out


def _grown(box: tuple[slice, ...], margin: Sequence[int], shape: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(max(b.start - m, 0), min(b.stop + m, n)) for b, m, n in zip(box, margin, shape))


def case_features(case: Case, settings: FeatureSettings | None = None) -> CaseFeatures:
    """Measure every tumour component of ``case`` (see module docstring).

    Args:
        case: the case; a case without a tumour mask, or an empty one, has no lesion.
        settings: measurement settings (defaults when None).

    Returns:
        The case's :class:`CaseFeatures`, lesions in component order.
    """
    s = settings or FeatureSettings()
    tumor = case.tumor
    box = bounding_box(tumor) if tumor is not None else None
    if box is None:
        return CaseFeatures(case.case_id, [], 0)
    labels, n = label_lesions(tumor[box])
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    objects = ndi.find_objects(labels)
    spacing = case.spacing
    margin = s.margin_voxels(spacing)
    rows: list[dict[str, Any]] = []
    skipped = 0
    for index in range(1, n + 1):
        if counts[index] * case.voxel_volume_ml < s.min_volume_ml:
            skipped += 1
            continue
        obj = objects[index - 1]
        full = tuple(slice(b.start + o.start, b.start + o.stop) for b, o in zip(box, obj))
        crop = _grown(full, margin, case.shape)
        lesion = np.zeros(tuple(c.stop - c.start for c in crop), dtype=bool)
        inner = tuple(slice(f.start - c.start, f.stop - c.start) for f, c in zip(full, crop))
        lesion[inner] = labels[obj] == index
        tissue = ~tumor[crop]
        if case.organ is not None:
            tissue &= case.organ[crop]
        if case.vessels is not None:
            tissue &= ~case.vessels[crop]
        values = lesion_features(case.image[crop], lesion, tissue, spacing, s)
        rows.append({"case_id": case.case_id, "lesion": index, "voxels": int(counts[index]), **values})
    return CaseFeatures(case.case_id, rows, skipped)
