"""Real versus synthetic lesions: per-feature distances and the classifier two-sample test.

Per feature, over the lesions whose value is finite (NaN values are left out and counted):

* ``wasserstein``: the 1-D Wasserstein (earth mover's) distance,
  ``scipy.stats.wasserstein_distance``, in the feature's unit: how far, on average, the
  synthetic distribution's mass must move to match the real one;
* ``wasserstein_std``: the same divided by the standard deviation of both sides pooled, so that
  features in different units compare (0: identical; about 1: shifted by a whole spread);
* ``ks_statistic`` and ``ks_pvalue``: the two-sample Kolmogorov-Smirnov test,
  ``scipy.stats.ks_2samp`` (two-sided, method ``auto``). A small p-value says the two samples
  are unlikely to come from one distribution; with many lesions even tiny differences reach it.

A comparison needs at least ``MIN_LESIONS`` lesions per side (and at least as many as the
classifier's folds); fewer raise :class:`TooFewLesionsError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import ks_2samp, wasserstein_distance

from synthtumor.errors import SynthTumorError
from synthtumor.realism.classifier import ClassifierTest, classifier_two_sample_test
from synthtumor.realism.features import FEATURE_UNITS, FEATURES

__all__ = ["MIN_LESIONS", "TooFewLesionsError", "FeatureComparison", "compare_feature", "compare_features",
           "FEATURE_PRESET_KEYS", "worst_first",
           "feature_matrix", "SideCount", "check_lesion_counts", "RealismComparison", "compare_lesions"]

MIN_LESIONS = 5

#: Per feature, the generator preset keys that move it (``synthtumor fit-preset`` sets them all
#: from annotated lesions).
FEATURE_PRESET_KEYS: dict[str, str] = {
    "volume_ml": "size_law, count_law (hand-written presets: size_classes_mm, counts, size_jitter)",
    "equivalent_radius_mm": "size_law (hand-written presets: size_classes_mm, size_jitter)",
    "sphericity": "elongation, nodules.prob, margin_mm (hand-written presets: axis_jitter, lobulation)",
    "irregularity": "margin_mm, margin_scale_mm, nodules, lobulation, irregularity",
    "contrast_hu": "appearance.<phase>.contrast_hu (also patterns, necrosis_hu, rim_hu, calcification_prob)",
    "std_hu": "appearance.<phase>.texture, texture_size_exponent (also patterns, necrosis_by_size, rim_hu, "
              "calcification_prob, calcification_hu)",
    "glcm_contrast": "appearance.<phase>.texture, texture_scale_mm",
    "glcm_homogeneity": "appearance.<phase>.texture_scale_mm, texture",
    "edge_width_mm": "edge_width_mm (also appearance.<phase>.rim_hu, rim_width_mm, rim_profile)",
}


class TooFewLesionsError(SynthTumorError, ValueError):
    """A dataset has too few measurable lesions to compare distributions."""


@dataclass(frozen=True)
class FeatureComparison:
    """Distribution distances of one feature (see module docstring).

    Attributes:
        feature: the feature name.
        unit: its unit.
        n_real: real lesions with a finite value.
        n_synthetic: synthetic lesions with a finite value.
        median_real: median over real lesions.
        median_synthetic: median over synthetic lesions.
        wasserstein: 1-D Wasserstein distance, in ``unit``.
        wasserstein_std: Wasserstein distance / pooled standard deviation.
        ks_statistic: two-sample KS statistic D in [0, 1].
        ks_pvalue: its two-sided p-value.
    """

    feature: str
    unit: str
    n_real: int
    n_synthetic: int
    median_real: float
    median_synthetic: float
    wasserstein: float
    wasserstein_std: float
    ks_statistic: float
    ks_pvalue: float

    def as_row(self) -> dict[str, Any]:
        """One row of ``comparison.csv``."""
        return asdict(self)


def compare_feature(name: str, real: np.ndarray, synthetic: np.ndarray, unit: str = "") -> FeatureComparison:
    """Wasserstein and KS of one feature over the finite values of each side (NaN: a side has none)."""
    r = np.asarray(real, np.float64)
    s = np.asarray(synthetic, np.float64)
    r, s = r[np.isfinite(r)], s[np.isfinite(s)]
    nan = math.nan
    if r.size == 0 or s.size == 0:
        return FeatureComparison(name, unit, int(r.size), int(s.size),
                                 float(np.median(r)) if r.size else nan,
                                 float(np.median(s)) if s.size else nan, nan, nan, nan, nan)
    w = float(wasserstein_distance(r, s))
    spread = float(np.concatenate([r, s]).std())
    ks = ks_2samp(r, s)
    return FeatureComparison(
        name, unit, int(r.size), int(s.size), float(np.median(r)), float(np.median(s)), w,
        w / spread if spread > 0 else (0.0 if w == 0 else math.inf),
        float(ks.statistic), float(ks.pvalue),
    )


def worst_first(per_feature: Sequence[FeatureComparison]) -> list[FeatureComparison]:
    """The features from the worst matched to the best: by KS statistic D, then by Wasserstein
    over the pooled SD, features without values last."""
    def key(c: FeatureComparison) -> tuple[int, float, float]:
        d, w = c.ks_statistic, c.wasserstein_std
        return (0 if math.isfinite(d) else 1, -d if math.isfinite(d) else 0.0, -w if math.isfinite(w) else 0.0)
    return sorted(per_feature, key=key)


def feature_matrix(rows: Sequence[Mapping[str, Any]], features: Sequence[str] = FEATURES) -> np.ndarray:
    """(n_lesions, n_features) float64 array of ``rows`` (missing values NaN)."""
    out = np.full((len(rows), len(features)), np.nan)
    for i, row in enumerate(rows):
        for j, name in enumerate(features):
            value = row.get(name)
            out[i, j] = math.nan if value is None or value == "" else float(value)
    return out


def compare_features(
    real_rows: Sequence[Mapping[str, Any]],
    synthetic_rows: Sequence[Mapping[str, Any]],
    features: Sequence[str] = FEATURES,
) -> list[FeatureComparison]:
    """One :class:`FeatureComparison` per feature, in ``features`` order."""
    real, synthetic = feature_matrix(real_rows, features), feature_matrix(synthetic_rows, features)
    return [compare_feature(name, real[:, j], synthetic[:, j], FEATURE_UNITS.get(name, ""))
            for j, name in enumerate(features)]


@dataclass(frozen=True)
class SideCount:
    """How many lesions one side of the comparison has.

    Attributes:
        side: ``"real"`` or ``"synthetic"``.
        lesions: lesions measured.
        skipped: lesions skipped as smaller than the minimum volume.
        cases: cases read, if known.
        dataset: the dataset folder, if known.
    """

    side: str
    lesions: int
    skipped: int = 0
    cases: int | None = None
    dataset: str | None = None


def check_lesion_counts(sides: Sequence[SideCount], needed: int) -> None:
    """Raise :class:`TooFewLesionsError` for the first side with fewer than ``needed`` lesions."""
    for c in sides:
        if c.lesions >= needed:
            continue
        where = f" {c.dataset}" if c.dataset else ""
        in_cases = f" in {c.cases} case(s)" if c.cases is not None else ""
        small = f" ({c.skipped} more below the minimum volume were skipped)" if c.skipped else ""
        options = [f"add cases with tumour labels to the {c.side} dataset",
                   "check that its label map marks tumours (--label-map)"]
        if c.skipped:
            options.append("lower the minimum lesion volume")
        if needed > MIN_LESIONS:
            options.append(f"use fewer folds (each side needs max({MIN_LESIONS}, folds) lesions)")
        raise TooFewLesionsError(
            f"the {c.side} dataset{where} has {c.lesions} measurable lesion(s){in_cases}{small}; "
            f"comparing real and synthetic lesions needs at least {needed} per side.",
            fix=", ".join(options[:-1]) + ", or " + options[-1] + ".",
        )


@dataclass(frozen=True)
class RealismComparison:
    """Everything compared: per-feature distances and the classifier test."""

    features: tuple[str, ...]
    per_feature: list[FeatureComparison]
    classifier: ClassifierTest


def compare_lesions(
    real_rows: Sequence[Mapping[str, Any]],
    synthetic_rows: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
    *,
    features: Sequence[str] = FEATURES,
    folds: int = 5,
    repeats: int = 5,
    n_resamples: int = 2000,
    n_permutations: int = 200,
) -> RealismComparison:
    """Per-feature distances and the cross-validated classifier AUC of real vs synthetic rows.

    Args:
        real_rows: one mapping per real lesion (feature name -> value).
        synthetic_rows: one mapping per synthetic lesion.
        rng: the classifier test's generator (folds, bootstrap, permutations).
        features: the features compared and fed to the classifier.
        folds: stratified cross-validation folds.
        repeats: repeats of the fold split.
        n_resamples: bootstrap resamples of the AUC's CI.
        n_permutations: label permutations for the chance band (0: none).

    Raises:
        TooFewLesionsError: a side has fewer than ``max(MIN_LESIONS, folds)`` rows.
    """
    check_lesion_counts([SideCount("real", len(real_rows)), SideCount("synthetic", len(synthetic_rows))],
                        max(MIN_LESIONS, folds))
    per_feature = compare_features(real_rows, synthetic_rows, features)
    test = classifier_two_sample_test(feature_matrix(real_rows, features), feature_matrix(synthetic_rows, features),
                                      rng, folds=folds, repeats=repeats, n_resamples=n_resamples,
                                      n_permutations=n_permutations)
    return RealismComparison(tuple(features), per_feature, test)
