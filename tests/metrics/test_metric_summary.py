"""Summaries: NaN handling, bootstrap determinism, detection by size, the Markdown report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.metrics import (
    bootstrap_ci,
    detection_by_size,
    format_summary,
    lesion_totals,
    summarise_metric,
    summarise_metrics,
)


def test_nan_values_are_excluded_and_counted():
    s = summarise_metric("dice", [0.5, float("nan"), 0.7, 0.9, None])
    assert (s.n, s.nan) == (3, 2)
    assert s.mean == pytest.approx(0.7) and s.median == pytest.approx(0.7)
    assert s.std == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))
    assert s.ci_low <= s.mean <= s.ci_high and 0.5 <= s.ci_low and s.ci_high <= 0.9


def test_bootstrap_is_deterministic_and_seeded():
    x = np.random.default_rng(3).normal(size=30)
    a = bootstrap_ci(x, np.random.default_rng(0))
    assert a == bootstrap_ci(x, np.random.default_rng(0))
    assert a != bootstrap_ci(x, np.random.default_rng(1))
    # roughly the normal-theory interval for 30 values
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert a[0] == pytest.approx(x.mean() - half, abs=0.15) and a[1] == pytest.approx(x.mean() + half, abs=0.15)


def test_degenerate_samples():
    one = summarise_metric("m", [2.0])
    assert (one.ci_low, one.ci_high) == (2.0, 2.0) and math.isnan(one.std)
    none = summarise_metric("m", [float("nan")])
    assert none.n == 0 and none.nan == 1 and math.isnan(none.mean) and math.isnan(none.ci_low)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, float("nan")], np.random.default_rng(0))


def test_a_metric_summary_does_not_depend_on_the_other_columns():
    rows = [{"a": float(i), "b": float(i * i)} for i in range(10)]
    assert summarise_metrics(rows, ["a", "b"])[1] == summarise_metrics(rows, ["b"])[0]


LESIONS = [
    {"side": "ref", "size_bin": "[0, 5)", "matched": 0, "dice": 0.0},
    {"side": "ref", "size_bin": "[0, 5)", "matched": 1, "dice": 0.6},
    {"side": "ref", "size_bin": "[10, inf)", "matched": 1, "dice": 0.8},
    {"side": "pred", "size_bin": "[0, 5)", "matched": 1, "dice": 0.6},
    {"side": "pred", "size_bin": "[10, inf)", "matched": 1, "dice": 0.8},
    {"side": "pred", "size_bin": "[5, 10)", "matched": 0, "dice": 0.0},
]
CASES = [{"lesion_tp": 1, "lesion_fp": 1, "lesion_fn": 1}, {"lesion_tp": 1, "lesion_fp": 0, "lesion_fn": 0}]


def test_detection_by_size_counts_reference_lesions_only():
    rows = {d.size_bin: d for d in detection_by_size(LESIONS)}
    assert (rows["[0, 5)"].lesions, rows["[0, 5)"].detected, rows["[0, 5)"].sensitivity) == (2, 1, 0.5)
    assert rows["[5, 10)"].lesions == 0 and math.isnan(rows["[5, 10)"].sensitivity)
    assert (rows["all"].lesions, rows["all"].detected) == (3, 2)


def test_lesion_totals():
    t = lesion_totals(CASES, LESIONS)
    assert (t["tp"], t["fp"], t["fn"], t["cases"]) == (2, 1, 1, 2)
    assert t["fp_per_case_mean"] == 0.5 and t["sensitivity"] == pytest.approx(2 / 3)
    assert t["pair_dice_mean"] == pytest.approx(0.7) and t["lesion_dice"] == pytest.approx(1.4 / 4)


def test_format_summary_has_every_section():
    text = format_summary(summarise_metrics(CASES, ["lesion_fp"]), detection_by_size(LESIONS),
                          lesion_totals(CASES, LESIONS), notes=["hello"])
    for needle in ("| lesion_fp | 2 | 0 | 0.5 |", "| [0, 5) | 2 | 1 | 0.5 |", "false positives per case: mean 0.5",
                   "- hello", "2000 resamples"):
        assert needle in text
