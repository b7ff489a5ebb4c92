"""Synthetic-versus-real lesion statistics: are synthetic tumours distributed like real ones?

One concern per module:

* :mod:`~synthtumor.realism.shape`: surface mesh, sphericity, surface irregularity;
* :mod:`~synthtumor.realism.intensity`: contrast against a 5 mm parenchymal shell, internal HU
  spread, GLCM contrast and homogeneity;
* :mod:`~synthtumor.realism.edge`: signed distance to the surface (mm), edge width (10-90 %);
* :mod:`~synthtumor.realism.features`: every feature of every lesion of a case;
* :mod:`~synthtumor.realism.classifier`: cross-validated logistic-regression AUC with a
  bootstrap CI (the classifier two-sample test);
* :mod:`~synthtumor.realism.compare`: per-feature Wasserstein distance and KS test;
* :mod:`~synthtumor.realism.report`: ``features.csv``, ``comparison.csv``, ``report.md`` (with the
  features worst-matched first and the preset keys that move them), ``features.png``;
* fitting a preset to annotated lesions (``synthtumor fit-preset``):
  :mod:`~synthtumor.realism.lesion_measures` (principal radii, distances),
  :mod:`~synthtumor.realism.fit_laws` (one scalar law), :mod:`~synthtumor.realism.preset_builder`
  (laws and knobs to a preset), :mod:`~synthtumor.realism.calibrate` (simulation in the annotated
  scans) and :mod:`~synthtumor.realism.fit` (all of it).

``synthtumor realism`` (the command `run_realism`) runs them all on two
datasets.
"""

from __future__ import annotations

from synthtumor.realism.classifier import (
    ClassifierTest,
    classifier_two_sample_test,
    fit_logistic,
    mann_whitney_auc,
    stratified_folds,
)
from synthtumor.realism.compare import (
    FEATURE_PRESET_KEYS,
    MIN_LESIONS,
    FeatureComparison,
    RealismComparison,
    SideCount,
    TooFewLesionsError,
    check_lesion_counts,
    compare_feature,
    compare_features,
    compare_lesions,
    feature_matrix,
    worst_first,
)
from synthtumor.realism.edge import edge_width_mm, radial_profile, signed_distance_mm
from synthtumor.realism.features import (
    FEATURE_UNITS,
    FEATURES,
    CaseFeatures,
    FeatureSettings,
    case_features,
    lesion_features,
)
from synthtumor.realism.intensity import glcm_texture, internal_std_hu, shell_contrast_hu
from synthtumor.realism.report import format_report, plot_features
from synthtumor.realism.shape import LesionShape, lesion_shape

__all__ = [
    "FEATURES",
    "FEATURE_PRESET_KEYS",
    "FEATURE_UNITS",
    "MIN_LESIONS",
    "CaseFeatures",
    "ClassifierTest",
    "FeatureComparison",
    "FeatureSettings",
    "LesionShape",
    "RealismComparison",
    "SideCount",
    "TooFewLesionsError",
    "case_features",
    "check_lesion_counts",
    "classifier_two_sample_test",
    "compare_feature",
    "compare_features",
    "compare_lesions",
    "edge_width_mm",
    "feature_matrix",
    "fit_logistic",
    "format_report",
    "glcm_texture",
    "internal_std_hu",
    "lesion_features",
    "lesion_shape",
    "mann_whitney_auc",
    "plot_features",
    "radial_profile",
    "shell_contrast_hu",
    "signed_distance_mm",
    "stratified_folds",
    "worst_first",
]
