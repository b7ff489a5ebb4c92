"""Segmentation and lesion-detection metrics, spacing-aware (mm) throughout.

One concern per module:

* :mod:`~synthtumor.metrics.overlap`: Dice, Jaccard, precision, recall, FPR, FNR;
* :mod:`~synthtumor.metrics.surface`: HD95, ASSD, NSD (the same numbers as MONAI's);
* :mod:`~synthtumor.metrics.topology`: Betti numbers, Euler characteristic, clDice;
* :mod:`~synthtumor.metrics.lesions`: connected lesions, one-to-one matching, size bins;
* :mod:`~synthtumor.metrics.case_metrics`: everything for one case, as a ``metrics.csv`` row;
* :mod:`~synthtumor.metrics.summary`: mean, std, median, bootstrap CI; detection by size.

Empty masks (after Metrics Reloaded, Maier-Hein et al. 2024), one rule throughout:

=====================  ======================  ==========================================
metric                 both masks empty        exactly one empty
=====================  ======================  ==========================================
Dice, Jaccard, NSD,    1.0                     0.0
clDice
HD95, ASSD (mm)        0.0                     worst case: the grid diagonal in mm
precision              NaN (no predicted       NaN if the prediction is empty, else 0.0
                       positives)
recall, FNR            NaN (no reference       recall 0.0 / FNR 1.0 if the prediction is
                       positives)              empty, NaN if the reference is
FPR                    0.0                     defined (NaN only without background)
=====================  ======================  ==========================================

A ratio whose denominator is zero is NaN; the symmetric agreement scores call two empty masks
perfect agreement. The summary excludes NaNs from means and counts them.
"""

from __future__ import annotations

from synthtumor.metrics.case_metrics import (
    CASE_COLUMNS,
    CLASS_METRICS,
    CLASSES,
    REFERENCE_METRICS,
    CaseEvaluation,
    case_masks,
    check_same_grid,
    class_metrics,
    evaluate_case,
    evaluate_masks,
    metric_columns,
)
from synthtumor.metrics.lesions import (
    DEFAULT_SIZE_BINS_MM,
    Lesion,
    LesionMatching,
    equivalent_radius_mm,
    label_lesions,
    match_lesions,
    size_bin,
    size_bin_labels,
)
from synthtumor.metrics.overlap import Confusion, confusion, dice, jaccard, overlap_metrics
from synthtumor.metrics.summary import (
    MetricSummary,
    SizeBinDetection,
    bootstrap_ci,
    detection_by_size,
    format_summary,
    lesion_totals,
    summarise_metric,
    summarise_metrics,
)
from synthtumor.metrics.surface import (
    SurfaceDistances,
    average_symmetric_surface_distance,
    hausdorff_distance,
    mask_surface,
    normalized_surface_dice,
    surface_distances,
    surface_metrics,
)
from synthtumor.metrics.topology import BettiNumbers, betti_numbers, cldice, skeleton

__all__ = [
    "CASE_COLUMNS",
    "CLASSES",
    "CLASS_METRICS",
    "DEFAULT_SIZE_BINS_MM",
    "REFERENCE_METRICS",
    "BettiNumbers",
    "CaseEvaluation",
    "Confusion",
    "Lesion",
    "LesionMatching",
    "MetricSummary",
    "SizeBinDetection",
    "SurfaceDistances",
    "average_symmetric_surface_distance",
    "betti_numbers",
    "bootstrap_ci",
    "case_masks",
    "check_same_grid",
    "class_metrics",
    "cldice",
    "confusion",
    "detection_by_size",
    "dice",
    "equivalent_radius_mm",
    "evaluate_case",
    "evaluate_masks",
    "format_summary",
    "hausdorff_distance",
    "jaccard",
    "label_lesions",
    "lesion_totals",
    "mask_surface",
    "match_lesions",
    "metric_columns",
    "normalized_surface_dice",
    "overlap_metrics",
    "size_bin",
    "size_bin_labels",
    "skeleton",
    "summarise_metric",
    "summarise_metrics",
    "surface_distances",
    "surface_metrics",
]
