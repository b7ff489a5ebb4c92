"""What fitting a preset measures on each annotated lesion beyond the realism features.

Per lesion (a 26-connected tumour component of at least ``min_volume_ml``, numbered as
:func:`synthtumor.realism.features.case_features` numbers them), inside its box grown by
``reach_mm`` (20 mm) per side:

=========================  =====  ============================================================
key                        unit   definition
=========================  =====  ============================================================
``radius_1_mm`` .. ``_3``  mm     principal semi-axes, largest first: ``sqrt(5 lambda_i)``, with
                                  ``lambda_i`` the eigenvalues of the covariance of the voxel
                                  centres in mm (a solid ellipsoid of semi-axis ``a`` has
                                  variance ``a^2 / 5`` along it)
``vessel_distance_mm``     mm     smallest distance from a lesion voxel to a vessel voxel
                                  (``reach_mm`` when none lies within reach)
``surface_distance_mm``    mm     smallest distance from a lesion voxel to a voxel outside the
                                  organ (``reach_mm`` when none within reach)
``subcapsular``            0/1    ``surface_distance_mm`` at most one voxel diagonal
``neighbour_gap_mm``       mm     smallest distance to another lesion of the case (NaN: none
                                  within ``reach_mm``)
``rim_hu``, ``core_*``     HU     the interior by depth (:mod:`synthtumor.realism.interior`):
                                  rim over middle, middle over core, the core's HU and its
                                  share of the radius
=========================  =====  ============================================================

Distances are Euclidean distance transforms in mm through the case spacing. Per case:
``noise_sigma_hu`` and ``parenchyma_median_hu`` (:func:`synthtumor.anatomy.prepare_case`: robust
statistics of organ voxels away from vessels and tumours, HU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthtumor.anatomy import prepare_case
from synthtumor.case import Case
from synthtumor.metrics import label_lesions
from synthtumor.metrics._crop import bounding_box
from synthtumor.realism.features import FeatureSettings, case_features
from synthtumor.realism.interior import INTERIOR_KEYS, interior_profile

__all__ = ["MeasuredCase", "measure_case", "principal_radii_mm", "EXTRA_KEYS"]

EXTRA_KEYS = ("radius_1_mm", "radius_2_mm", "radius_3_mm", "vessel_distance_mm", "surface_distance_mm",
              "subcapsular", "neighbour_gap_mm", *INTERIOR_KEYS)


@dataclass(frozen=True)
class MeasuredCase:
    """One case's lesions (realism features and the keys above) and scan statistics."""

    case_id: str
    phase: str
    rows: list[dict[str, Any]]
    skipped: int
    noise_sigma_hu: float
    parenchyma_median_hu: float
    spacing: tuple[float, float, float]


def principal_radii_mm(points_mm: np.ndarray) -> tuple[float, float, float]:
    """Semi-axes (mm, largest first) of the solid ellipsoid with the points' covariance."""
    if len(points_mm) < 2:
        return (0.0, 0.0, 0.0)
    eig = np.linalg.eigvalsh(np.cov(points_mm.T))
    r = np.sqrt(5.0 * np.clip(eig, 0.0, None))[::-1]
    return (float(r[0]), float(r[1]), float(r[2]))


def _min_distance(blocked: np.ndarray, lesion: np.ndarray, spacing, cap: float) -> float:
    if not blocked.any():
        return cap
    dist = ndi.distance_transform_edt(~blocked, sampling=spacing)
    return float(min(dist[lesion].min(), cap))


def measure_case(case: Case, settings: FeatureSettings | None = None, reach_mm: float = 20.0) -> MeasuredCase:
    """Every measurable lesion of ``case``: realism features plus the keys of the module docstring.

    Args:
        case: a case with an organ mask; its tumour mask marks the lesions.
        settings: realism feature settings (min volume, shell, ...).
        reach_mm: how far (mm) around a lesion distances are looked for.
    """
    s = settings or FeatureSettings()
    prepared = prepare_case(case)
    base = case_features(case, s)
    spacing = np.asarray(case.spacing, dtype=float)
    vessels = prepared.vessels
    rows = []
    tumor = case.tumor
    box = bounding_box(tumor) if tumor is not None else None
    if box is not None and base.rows:
        labels, _ = label_lesions(tumor[box])
        objects = ndi.find_objects(labels)
        margin = [int(math.ceil(reach_mm / v)) + 1 for v in spacing]
        diag = float(np.linalg.norm(spacing))
        for row in base.rows:
            index = row["lesion"]
            obj = objects[index - 1]
            full = [slice(b.start + o.start, b.start + o.stop) for b, o in zip(box, obj)]
            crop = tuple(slice(max(f.start - m, 0), min(f.stop + m, n)) for f, m, n in zip(full, margin, case.shape))
            lesion = np.zeros(tuple(c.stop - c.start for c in crop), dtype=bool)
            inner = tuple(slice(f.start - c.start, f.stop - c.start) for f, c in zip(full, crop))
            lesion[inner] = labels[obj] == index
            points = np.argwhere(lesion) * spacing
            r1, r2, r3 = principal_radii_mm(points)
            vessel = _min_distance(vessels[crop], lesion, spacing, reach_mm) if vessels is not None else math.nan
            organ = case.organ[crop] | tumor[crop]
            surface = _min_distance(~organ, lesion, spacing, reach_mm)
            others = tumor[crop] & ~lesion
            gap = _min_distance(others, lesion, spacing, math.inf) if others.any() else math.inf
            rows.append({**row, "radius_1_mm": r1, "radius_2_mm": r2, "radius_3_mm": r3,
                         "vessel_distance_mm": vessel, "surface_distance_mm": surface,
                         "subcapsular": float(surface <= diag),
                         "neighbour_gap_mm": gap if gap <= reach_mm else math.nan,
                         **interior_profile(case.image[crop], lesion, spacing,
                                            None if case.vessels is None else case.vessels[crop])})
    return MeasuredCase(case.case_id, case.phase.value, rows, base.skipped, float(prepared.noise_sigma_hu),
                        float(prepared.parenchyma_median_hu), tuple(float(v) for v in spacing))
