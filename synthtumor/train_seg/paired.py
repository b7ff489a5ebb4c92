"""The study's question in numbers: each arm's per-test-case difference to the ``real`` arm.

For an arm and a scarcity level ``n``, the arm is compared against the ``real`` arm trained on
``n`` real scans, on the same held-out test cases:

* a ``synthetic`` arm (``n_real`` 0, it uses no real scans) against the real arm at *every*
  scarcity level (how many real scans does synthetic data replace?); any other arm at its own
  ``n_real`` against the real arm at the same ``n_real``;
* per test case, the difference arm - real of the metric averaged over the seeds both runs
  have for that case (pairing by seed: a seed one arm lacks is left out of that case). A case
  with no seed in common is compared through each arm's mean over its own seeds. NaN values
  (a metric undefined for a case) are left out before pairing; a case missing from either arm
  is left out;
* over the paired test cases: the mean difference, its 95 % percentile-bootstrap CI
  (:func:`synthtumor.metrics.summary.bootstrap_ci`, 2000 resamples, ``default_rng(0)``), and a
  two-sided Wilcoxon signed-rank p (:func:`scipy.stats.wilcoxon`, its defaults: zero
  differences dropped) where at least :data:`MIN_WILCOXON_CASES` cases are paired. When every
  difference is exactly zero the p is 1.0 (no evidence of any difference; scipy would warn, or
  in older versions raise); a p scipy cannot compute is reported as "n/a". With 5 cases the
  exact two-sided test cannot go below p = 0.0625, with 6 below 0.031.

The plain reading of a row uses the tumour Dice difference's CI: "better" / "worse" when the CI
lies above / below zero, "no clear difference (CI spans 0)" otherwise, with a caveat when fewer
than :data:`MIN_WILCOXON_CASES` cases are paired or the Wilcoxon test disagrees.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from synthtumor.metrics.summary import bootstrap_ci

__all__ = ["PAIRED_METRICS", "MIN_WILCOXON_CASES", "case_differences", "paired_differences",
           "format_paired_table"]

#: Metrics compared; the first one drives the plain reading.
PAIRED_METRICS = ("dice_tumor", "nsd_tumor")
#: Fewest paired test cases for a Wilcoxon p.
MIN_WILCOXON_CASES = 5

# (arm, n_real) -> case_id -> seed -> values
_Index = dict[tuple[str, int], dict[str, dict[int, list[float]]]]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _index(results: Iterable[Mapping[str, Any]], metric: str) -> _Index:
    index: _Index = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for row in results:
        value = _float(row.get(metric))
        if math.isfinite(value):
            index[(str(row["arm"]), int(row["n_real"]))][str(row["case_id"])][int(row["seed"])].append(value)
    return index


def _case_diffs(arm: Mapping[str, Mapping[int, list[float]]],
                real: Mapping[str, Mapping[int, list[float]]]) -> dict[str, float]:
    out = {}
    for case in sorted(set(arm) & set(real)):
        seeds = sorted(set(arm[case]) & set(real[case]))
        a_seeds, r_seeds = (seeds, seeds) if seeds else (sorted(arm[case]), sorted(real[case]))
        a = float(np.mean([np.mean(arm[case][s]) for s in a_seeds]))
        r = float(np.mean([np.mean(real[case][s]) for s in r_seeds]))
        out[case] = a - r
    return out


def case_differences(results: Iterable[Mapping[str, Any]], arm: str, arm_n_real: int, n_real: int,
                     metric: str = "dice_tumor", reference: str = "real") -> dict[str, float]:
    """Per test case: ``arm`` (at ``arm_n_real``) minus ``reference`` (at ``n_real``), seed-paired."""
    index = _index(results, metric)
    return _case_diffs(index.get((arm, int(arm_n_real)), {}), index.get((reference, int(n_real)), {}))


def _wilcoxon(diffs: np.ndarray) -> tuple[float | None, str]:
    if diffs.size < MIN_WILCOXON_CASES:
        return None, f"n/a (k < {MIN_WILCOXON_CASES} cases)"
    if not np.any(diffs):
        return 1.0, "1.000 (all differences 0)"
    from scipy.stats import wilcoxon

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(wilcoxon(diffs, alternative="two-sided").pvalue)
    except ValueError:
        return None, "n/a"
    return (p, f"{p:.3f}" if p >= 0.001 else f"{p:.1e}") if math.isfinite(p) else (None, "n/a")


def _reading(cases: int, mean: float, low: float, high: float, p: float | None) -> str:
    if cases == 0:
        return "no paired test cases"
    if low == high == mean == 0.0:
        return "no difference (equal on every case)"
    if low > 0 or high < 0:
        text = "better than real" if low > 0 else "worse than real"
        if cases < MIN_WILCOXON_CASES:
            return f"{text} (only {cases} case{'s' if cases != 1 else ''}: weak evidence)"
        if p is not None and p >= 0.05:
            return f"{text} by the CI, but Wilcoxon p >= 0.05"
        return text
    return "no clear difference (CI spans 0)"


def _comparisons(keys: set[tuple[str, int]], scarcity: Sequence[int], reference: str) -> list[tuple[str, int, int]]:
    """(arm, arm's n_real, reference's n_real) for every arm and level both sides have rows for."""
    out = []
    for arm, arm_n in sorted(k for k in keys if k[0] != reference):
        targets = scarcity if arm_n == 0 else [arm_n] if arm_n in scarcity else []
        out += [(arm, arm_n, n) for n in targets if (reference, n) in keys]
    return out


def paired_differences(results: Sequence[Mapping[str, Any]], scarcity: Iterable[int] | None = None,
                       metrics: Sequence[str] = PAIRED_METRICS, reference: str = "real") -> list[dict[str, Any]]:
    """One row per comparison of an arm with the ``reference`` arm (see module docstring).

    Args:
        results: study result rows (``arm``, ``n_real``, ``seed``, ``case_id`` and the metrics;
            values may be strings as read from ``results.csv``).
        scarcity: the reference arm's levels to compare against (the config's ``scarcity``);
            None: every level the reference arm has.
        metrics: metrics to compare; the first drives ``reading`` and ``cases``.
        reference: the arm compared against.

    Returns:
        Dicts with ``arm``, ``arm_n_real`` (real scans the arm used), ``n_real`` (of the reference
        arm compared against), ``cases`` (paired test cases of the first metric), ``reading``,
        and per metric ``<m>_cases``, ``<m>_mean``, ``<m>_ci_low``, ``<m>_ci_high``, ``<m>_p``
        (None where not computed) and ``<m>_p_text``. Ordered by arm, then ``n_real``.
        Empty without a reference arm.
    """
    indexes = {m: _index(results, m) for m in metrics}
    levels = {int(r["n_real"]) for r in results if str(r["arm"]) == reference}
    scarcity = sorted(levels if scarcity is None else {int(n) for n in scarcity})
    keys = {(str(r["arm"]), int(r["n_real"])) for r in results}
    rows = []
    for arm, arm_n, n in _comparisons(keys, scarcity, reference):
        row: dict[str, Any] = {"arm": arm, "arm_n_real": arm_n, "n_real": n}
        for metric in metrics:
            index = indexes[metric]
            diffs = np.asarray(list(_case_diffs(index.get((arm, arm_n), {}), index.get((reference, n), {})).values()))
            if diffs.size:
                low, high = bootstrap_ci(diffs, np.random.default_rng(0))
                mean = float(diffs.mean())
            else:
                mean = low = high = math.nan
            p, p_text = _wilcoxon(diffs)
            row.update({f"{metric}_cases": int(diffs.size), f"{metric}_mean": mean, f"{metric}_ci_low": low,
                        f"{metric}_ci_high": high, f"{metric}_p": p, f"{metric}_p_text": p_text})
        first = metrics[0]
        row["cases"] = row[f"{first}_cases"]
        row["reading"] = _reading(row["cases"], row[f"{first}_mean"], row[f"{first}_ci_low"],
                                  row[f"{first}_ci_high"], row[f"{first}_p"])
        rows.append(row)
    return rows


def _delta(row: Mapping[str, Any], metric: str, cases: int) -> str:
    mean = row[f"{metric}_mean"]
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:+.3f} [{row[f'{metric}_ci_low']:+.3f}, {row[f'{metric}_ci_high']:+.3f}]"
    k = row[f"{metric}_cases"]
    return text if k == cases else f"{text} (k={k})"


def format_paired_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = PAIRED_METRICS) -> str:
    """The rows of :func:`paired_differences` as a markdown table (no trailing newline)."""
    header = ["arm", "vs real at n_real", "cases"]
    for metric in metrics:
        header += [f"Δ {metric} mean [95 % CI]", f"Wilcoxon p ({metric})"]
    header.append("reading")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        arm = row["arm"] if row["arm_n_real"] == row["n_real"] else f"{row['arm']} ({row['arm_n_real']} real)"
        cells = [arm, str(row["n_real"]), str(row["cases"])]
        for metric in metrics:
            cells += [_delta(row, metric, row["cases"]), row[f"{metric}_p_text"]]
        cells.append(row["reading"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
