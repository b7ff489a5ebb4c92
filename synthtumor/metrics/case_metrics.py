"""All metrics of one case: per class (organ, tumour, vessels) and lesion-wise for the tumour.

Per class ``c`` a case row holds ``dice_c, jaccard_c, precision_c, recall_c, fpr_c, fnr_c``
(:mod:`~synthtumor.metrics.overlap`), ``hd95_c, assd_c`` (mm) and ``nsd_c``
(:mod:`~synthtumor.metrics.surface`), ``cldice_c, b0_c, b1_c, euler_c``
(:mod:`~synthtumor.metrics.topology`, of the prediction), ``volume_ml_c`` (prediction, mL), and
the reference's own ``b0_ref_c, b1_ref_c, euler_ref_c, volume_ml_ref_c``. The organ class is the
whole organ, tumours inside it included (the LiTS / Decathlon convention, and what
:class:`~synthtumor.case.Case` holds).

A class is evaluated when both sides define it (their label maps name it; a defined mask may be
empty, see the empty-mask rules of each module); otherwise all its metrics are NaN. A class
present in the reference but predicted empty is evaluated (Dice 0), a class the prediction's
label map does not know (e.g. vessels from a model that does not segment them) is not.

Lesion-wise (:mod:`~synthtumor.metrics.lesions`): ``lesion_tp, lesion_fp, lesion_fn``, and the
tumour burden ``tumour volume / organ volume`` of each side (``burden_ref``, ``burden_pred``;
NaN without an organ) with ``burden_abs_err = |burden_pred - burden_ref|``.

Each class is cropped to the bounding box of ``pred | ref`` before anything else; only the
confusion counts' TN and the worst-case distance use the whole grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthtumor.case import Case
from synthtumor.errors import InvalidCaseError
from synthtumor.metrics._crop import union_box
from synthtumor.metrics.lesions import DEFAULT_SIZE_BINS_MM, LesionMatching, match_lesions
from synthtumor.metrics.overlap import OVERLAP_METRICS, Confusion, confusion, overlap_metrics
from synthtumor.metrics.surface import SURFACE_METRICS, check_spacing, grid_diagonal_mm, surface_metrics
from synthtumor.metrics.topology import TOPOLOGY_METRICS, betti_numbers, cldice

__all__ = [
    "CLASSES",
    "CLASS_METRICS",
    "REFERENCE_METRICS",
    "CASE_COLUMNS",
    "CaseEvaluation",
    "case_masks",
    "check_same_grid",
    "class_metrics",
    "evaluate_case",
    "evaluate_masks",
    "metric_columns",
]

CLASSES = ("organ", "tumor", "vessels")
CLASS_METRICS = (*OVERLAP_METRICS, *SURFACE_METRICS, *TOPOLOGY_METRICS, "volume_ml")
REFERENCE_METRICS = ("b0_ref", "b1_ref", "euler_ref", "volume_ml_ref")
CASE_COLUMNS = ("lesion_tp", "lesion_fp", "lesion_fn", "burden_ref", "burden_pred", "burden_abs_err")

Masks = Mapping[str, "np.ndarray | None"]


def metric_columns(classes: Sequence[str] = ("organ", "tumor")) -> list[str]:
    """The columns of ``metrics.csv`` for these classes, ``case_id`` first."""
    columns = ["case_id"]
    for c in classes:
        columns += [f"{m}_{c}" for m in (*CLASS_METRICS, *REFERENCE_METRICS)]
    return columns + list(CASE_COLUMNS)


def _nan_class() -> dict[str, float]:
    return {m: math.nan for m in (*CLASS_METRICS, *REFERENCE_METRICS)}


def class_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    *,
    nsd_tolerance_mm: float = 2.0,
    worst_case_mm: float | None = None,
) -> dict[str, float]:
    """Every per-class metric of two boolean masks on the same grid.

    Args:
        pred: predicted 3-D boolean mask.
        ref: reference 3-D boolean mask, same shape.
        spacing: voxel size per axis in mm.
        nsd_tolerance_mm: NSD tolerance in mm.
        worst_case_mm: HD95/ASSD when exactly one mask is empty; default the grid diagonal (mm).

    Returns:
        ``CLASS_METRICS`` and ``REFERENCE_METRICS`` as a dict (mm, mL, counts, fractions).

    Raises:
        ValueError: shapes differ, the masks are not 3-D, or bad spacing.
    """
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape or pred.ndim != 3:
        raise ValueError(f"pred and ref must be 3-D masks of one shape, got {pred.shape} and {ref.shape}")
    sp = check_spacing(spacing, 3)
    voxel_ml = float(np.prod(sp)) / 1000.0
    worst = grid_diagonal_mm(pred.shape, sp) if worst_case_mm is None else float(worst_case_mm)
    box = union_box(pred, ref)
    if box is None:
        out: dict[str, float] = overlap_metrics(Confusion(0, 0, 0, pred.size))
        out.update(hd95=0.0, assd=0.0, nsd=1.0, cldice=1.0, b0=0, b1=0, euler=0, volume_ml=0.0,
                   b0_ref=0, b1_ref=0, euler_ref=0, volume_ml_ref=0.0)
        return out
    p, r = pred[box], ref[box]
    counts = confusion(p, r, total=pred.size)
    out = overlap_metrics(counts)
    out.update(surface_metrics(p, r, sp, tolerance_mm=nsd_tolerance_mm, worst_case_mm=worst))
    out["cldice"] = cldice(p, r)
    betti_p, betti_r = betti_numbers(p), betti_numbers(r)
    out.update(b0=betti_p.b0, b1=betti_p.b1, euler=betti_p.euler, volume_ml=(counts.tp + counts.fp) * voxel_ml)
    out.update(b0_ref=betti_r.b0, b1_ref=betti_r.b1, euler_ref=betti_r.euler,
               volume_ml_ref=(counts.tp + counts.fn) * voxel_ml)
    return out


@dataclass(frozen=True)
class CaseEvaluation:
    """The metrics of one case.

    Attributes:
        case_id: the case.
        metrics: its ``metrics.csv`` row (keys from :func:`metric_columns`).
        lesions: the lesion matching of the tumour class (None when it was not evaluated).
    """

    case_id: str
    metrics: dict[str, Any]
    lesions: LesionMatching | None

    def lesion_rows(self) -> list[dict[str, Any]]:
        """Its rows of ``lesions.csv`` (reference lesions, then predicted ones)."""
        return [] if self.lesions is None else self.lesions.rows(self.case_id)


def _burden(tumor: np.ndarray | None, organ: np.ndarray | None) -> float:
    if tumor is None or organ is None:
        return math.nan
    organ_voxels = int(np.count_nonzero(organ))
    return int(np.count_nonzero(tumor)) / organ_voxels if organ_voxels else math.nan


def evaluate_masks(
    pred: Masks,
    ref: Masks,
    spacing: Sequence[float],
    *,
    case_id: str,
    classes: Sequence[str] = CLASSES,
    nsd_tolerance_mm: float = 2.0,
    iou_threshold: float = 0.1,
    size_bins: Sequence[float] = DEFAULT_SIZE_BINS_MM,
) -> CaseEvaluation:
    """Evaluate one case given as class masks (``{"organ": ..., "tumor": ..., "vessels": ...}``).

    Args:
        pred: predicted masks by class name; a missing key or None means "not defined".
        ref: reference masks by class name, same grid.
        spacing: voxel size per axis in mm.
        case_id: the case id (first column of the row).
        classes: the classes to evaluate; ``"tumor"`` also gets the lesion-wise metrics.
        nsd_tolerance_mm: NSD tolerance in mm.
        iou_threshold: the IoU a lesion pair needs to match.
        size_bins: equivalent-radius bin edges (mm) of the lesions.

    Raises:
        InvalidCaseError: two masks of the case have different shapes.
    """
    shapes = {np.shape(m) for side in (pred, ref) for m in side.values() if m is not None}
    if len(shapes) > 1:
        raise InvalidCaseError(f"the masks have different shapes {sorted(shapes)}.", case=case_id,
                               fix="give the prediction on the reference's voxel grid.")
    row: dict[str, Any] = {"case_id": case_id}
    for c in classes:
        p, r = pred.get(c), ref.get(c)
        values = _nan_class() if p is None or r is None else class_metrics(
            p, r, spacing, nsd_tolerance_mm=nsd_tolerance_mm)
        row.update({f"{m}_{c}": v for m, v in values.items()})
    lesions = None
    tumor_p, tumor_r = pred.get("tumor"), ref.get("tumor")
    if "tumor" in classes and tumor_p is not None and tumor_r is not None:
        lesions = match_lesions(tumor_p, tumor_r, spacing, iou_threshold=iou_threshold, size_bins=size_bins)
        row.update(lesion_tp=lesions.tp, lesion_fp=lesions.fp, lesion_fn=lesions.fn)
    else:
        row.update(lesion_tp=math.nan, lesion_fp=math.nan, lesion_fn=math.nan)
    burden_p = _burden(tumor_p, pred.get("organ"))
    burden_r = _burden(tumor_r, ref.get("organ"))
    row.update(burden_ref=burden_r, burden_pred=burden_p, burden_abs_err=abs(burden_p - burden_r))
    return CaseEvaluation(case_id, row, lesions)


def case_masks(case: Case) -> dict[str, np.ndarray | None]:
    """The class masks of a Case: ``organ`` (tumours included), ``tumor``, ``vessels``."""
    return {"organ": case.organ, "tumor": case.tumor, "vessels": case.vessels}


def evaluate_case(
    pred: Case,
    ref: Case,
    *,
    nsd_tolerance_mm: float = 2.0,
    iou_threshold: float = 0.1,
    size_bins: Sequence[float] = DEFAULT_SIZE_BINS_MM,
    grid_tolerance_mm: float | None = None,
) -> CaseEvaluation:
    """Evaluate a predicted Case against a reference Case on the same grid (spacing from ``ref``).

    Args:
        pred: the prediction.
        ref: the reference.
        nsd_tolerance_mm: NSD tolerance in mm.
        iou_threshold: the IoU a lesion pair needs to match.
        size_bins: equivalent-radius bin edges in mm.
        grid_tolerance_mm: how far (mm) the two grids' corners may lie apart; default a tenth
            of the smallest voxel size.

    Raises:
        InvalidCaseError: the two cases do not lie on the same grid.
    """
    check_same_grid(pred.affine, pred.shape, ref.affine, ref.shape, case_id=ref.case_id,
                    tolerance_mm=grid_tolerance_mm)
    return evaluate_masks(case_masks(pred), case_masks(ref), ref.spacing, case_id=ref.case_id,
                          nsd_tolerance_mm=nsd_tolerance_mm, iou_threshold=iou_threshold, size_bins=size_bins)


def check_same_grid(
    pred_affine: np.ndarray,
    pred_shape: Sequence[int],
    ref_affine: np.ndarray,
    ref_shape: Sequence[int],
    *,
    case_id: str,
    tolerance_mm: float | None = None,
    what: str = "the prediction",
) -> None:
    """Check that two RAS+ grids coincide: same shape, corners within ``tolerance_mm``.

    Raises:
        InvalidCaseError: they do not.
    """
    if tuple(pred_shape) != tuple(ref_shape):
        raise InvalidCaseError(
            f"{what} has shape {tuple(pred_shape)} (RAS order), the reference {tuple(ref_shape)}.",
            case=case_id, fix="resample the prediction onto the reference grid (nearest neighbour).")
    spacing = np.linalg.norm(np.asarray(ref_affine)[:3, :3], axis=0)
    tol = 0.1 * float(spacing.min()) if tolerance_mm is None else float(tolerance_mm)
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in ref_shape], indexing="ij")).reshape(3, -1)
    corners = np.vstack([corners, np.ones((1, corners.shape[1]))])
    shift = float(np.linalg.norm((np.asarray(pred_affine) @ corners - np.asarray(ref_affine) @ corners)[:3],
                                 axis=0).max())
    if shift > tol:
        raise InvalidCaseError(
            f"{what} lies {shift:.3g} mm away from the reference grid (tolerance {tol:.3g} mm): "
            "their affines disagree.",
            case=case_id, fix="check that the prediction belongs to this case; resample it onto the reference grid.")
