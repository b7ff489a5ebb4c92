"""Voxel-overlap metrics of one class: Dice, Jaccard, precision, recall, FPR, FNR.

With TP, FP, FN, TN the voxel counts of the confusion matrix (pred against ref):

* Dice ``2 TP / (2 TP + FP + FN)``; Jaccard ``TP / (TP + FP + FN)``: 1.0 when both masks are
  empty (perfect agreement on an absent class; MONAI's ``compute_dice(..., ignore_empty=False)``
  gives the same), 0.0 when exactly one is.
* precision ``TP / (TP + FP)``: NaN when the prediction is empty (Metrics Reloaded: PPV is
  undefined without predicted positives).
* recall (sensitivity) ``TP / (TP + FN)`` and FNR ``FN / (TP + FN)``: NaN when the reference is
  empty (undefined without reference positives).
* FPR ``FP / (FP + TN)``: NaN only when the grid holds no reference background at all.

NaNs are excluded (and counted) by :mod:`synthtumor.metrics.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Confusion", "confusion", "overlap_metrics", "dice", "jaccard", "OVERLAP_METRICS"]

OVERLAP_METRICS = ("dice", "jaccard", "precision", "recall", "fpr", "fnr")


@dataclass(frozen=True)
class Confusion:
    """Voxel counts of one class: true/false positives/negatives."""

    tp: int
    fp: int
    fn: int
    tn: int


def confusion(pred: np.ndarray, ref: np.ndarray, total: int | None = None) -> Confusion:
    """Count TP, FP, FN and TN voxels.

    Args:
        pred: predicted boolean mask.
        ref: reference boolean mask of the same shape.
        total: voxels in the whole grid when ``pred`` and ``ref`` are crops of it (TN then
            counts the voxels outside the crop too); default ``pred.size``.

    Raises:
        ValueError: the shapes differ, or ``total`` is smaller than the crop.
    """
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: {pred.shape} vs {ref.shape}")
    total = pred.size if total is None else int(total)
    if total < pred.size:
        raise ValueError(f"total ({total}) is smaller than the crop ({pred.size} voxels)")
    tp = int(np.count_nonzero(pred & ref))
    n_pred = int(np.count_nonzero(pred))
    n_ref = int(np.count_nonzero(ref))
    fp, fn = n_pred - tp, n_ref - tp
    return Confusion(tp=tp, fp=fp, fn=fn, tn=total - tp - fp - fn)


def _ratio(num: int, den: int) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def overlap_metrics(counts: Confusion) -> dict[str, float]:
    """Dice, Jaccard, precision, recall, FPR and FNR from confusion counts (see module docstring).

    Returns:
        A dict with the keys of ``OVERLAP_METRICS`` (dimensionless, in [0, 1] or NaN).
    """
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    both_empty = tp + fp + fn == 0
    return {
        "dice": 1.0 if both_empty else 2.0 * tp / (2.0 * tp + fp + fn),
        "jaccard": 1.0 if both_empty else tp / float(tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, tp + fn),
    }


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    return overlap_metrics(confusion(pred, ref))["dice"]


def jaccard(pred: np.ndarray, ref: np.ndarray) -> float:
    """Jaccard index (IoU) of two boolean masks (1.0 when both are empty)."""
    return overlap_metrics(confusion(pred, ref))["jaccard"]
