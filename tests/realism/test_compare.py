"""Per-feature Wasserstein / KS and the too-few-lesions error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.errors import SynthTumorError
from synthtumor.realism import (
    FEATURES,
    SideCount,
    TooFewLesionsError,
    check_lesion_counts,
    compare_feature,
    compare_features,
    compare_lesions,
)


def test_wasserstein_of_a_shift_is_the_shift_and_ks_sees_it():
    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, 300)
    same = compare_feature("x", real, real + 0.0, "HU")
    shifted = compare_feature("x", real, real + 2.0, "HU")
    assert same.wasserstein == 0.0 and same.ks_statistic == 0.0 and same.ks_pvalue == 1.0
    assert shifted.wasserstein == pytest.approx(2.0)
    assert shifted.ks_pvalue < 1e-6 and shifted.median_synthetic - shifted.median_real == pytest.approx(2.0)
    assert 0.5 < shifted.wasserstein_std < 1.5


def test_nan_values_are_left_out_and_counted():
    result = compare_feature("edge", np.array([1.0, np.nan, 2.0]), np.array([np.nan, np.nan]))
    assert (result.n_real, result.n_synthetic) == (2, 0)
    assert math.isnan(result.wasserstein) and math.isnan(result.ks_pvalue)


def _rows(rng, n, shift=0.0):
    return [{name: float(rng.normal(shift, 1.0)) for name in FEATURES} for _ in range(n)]


def test_compare_features_covers_every_feature_in_order():
    rng = np.random.default_rng(1)
    rows = compare_features(_rows(rng, 10), _rows(rng, 12))
    assert [r.feature for r in rows] == list(FEATURES)
    assert rows[0].unit == "mL" and rows[0].n_synthetic == 12


def test_too_few_lesions_names_the_dataset_and_the_fix():
    counts = [SideCount("real", 12, 0, 4, "/data/lits"), SideCount("synthetic", 3, 2, 2, "/data/synth")]
    with pytest.raises(TooFewLesionsError) as info:
        check_lesion_counts(counts, 5)
    message = str(info.value)
    assert isinstance(info.value, SynthTumorError)
    assert "synthetic dataset /data/synth has 3 measurable lesion(s) in 2 case(s)" in message
    assert "2 more below the minimum volume" in message and "Fix:" in message
    rng = np.random.default_rng(2)
    with pytest.raises(TooFewLesionsError, match="the real dataset has 4"):
        compare_lesions(_rows(rng, 4), _rows(rng, 20), rng)
