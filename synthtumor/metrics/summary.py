"""Summaries over cases: mean, std, median and a bootstrap CI per metric; detection by size.

* Per metric: NaN values are excluded and counted (``n`` finite values, ``nan`` excluded ones);
  ``std`` is the sample standard deviation (ddof = 1; NaN for fewer than two values).
* The 95 % confidence interval of the mean is a percentile bootstrap: ``n_resamples`` (default
  2000) resamples of the cases with replacement, drawn from ``numpy.random.default_rng(seed)``
  afresh for every metric (so a metric's interval does not depend on which other metrics are
  summarised), and the 2.5th and 97.5th percentiles of the resampled means. One value gives the
  degenerate interval [x, x]; none gives NaN.
* Lesion sensitivity per size bin: detected (matched) reference lesions / reference lesions, over
  all cases pooled, per bin of the reference lesion's equivalent radius; NaN for an empty bin.
* False positives per case: the mean, median and total of ``lesion_fp`` over the cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthtumor.metrics.lesions import DEFAULT_SIZE_BINS_MM, OUT_OF_RANGE, size_bin_labels

__all__ = [
    "MetricSummary",
    "SizeBinDetection",
    "bootstrap_ci",
    "summarise_metric",
    "summarise_metrics",
    "detection_by_size",
    "lesion_totals",
    "format_summary",
]


@dataclass(frozen=True)
class MetricSummary:
    """Statistics of one metric over cases (NaNs excluded, see module docstring)."""

    name: str
    n: int
    nan: int
    mean: float
    std: float
    median: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SizeBinDetection:
    """Detection of the reference lesions of one size bin, pooled over cases."""

    size_bin: str
    lesions: int
    detected: int

    @property
    def sensitivity(self) -> float:
        """detected / lesions (NaN for an empty bin)."""
        return self.detected / self.lesions if self.lesions else math.nan


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of finite ``values``.

    Args:
        values: the per-case values (NaNs must be removed first).
        rng: the generator the resamples are drawn from.
        n_resamples: number of bootstrap resamples.
        confidence: the interval's coverage, in (0, 1).

    Returns:
        (low, high); (NaN, NaN) for no values.

    Raises:
        ValueError: ``n_resamples`` < 1, ``confidence`` outside (0, 1), or NaN values.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if n_resamples < 1 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n_resamples >= 1 and 0 < confidence < 1, got {n_resamples}, {confidence}")
    if np.isnan(x).any():
        raise ValueError("bootstrap_ci: remove NaN values first")
    if x.size == 0:
        return math.nan, math.nan
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def summarise_metric(
    name: str, values: Iterable[float], *, seed: int = 0, n_resamples: int = 2000
) -> MetricSummary:
    """Mean, std, median and bootstrap 95 % CI of one metric (NaNs excluded and counted)."""
    x = np.asarray([math.nan if v is None or v == "" else float(v) for v in values], dtype=np.float64)
    finite = x[~np.isnan(x)]
    n = int(finite.size)
    low, high = bootstrap_ci(finite, np.random.default_rng(seed), n_resamples=n_resamples)
    return MetricSummary(
        name=name, n=n, nan=int(x.size - n),
        mean=float(finite.mean()) if n else math.nan,
        std=float(finite.std(ddof=1)) if n > 1 else math.nan,
        median=float(np.median(finite)) if n else math.nan,
        ci_low=low, ci_high=high,
    )


def summarise_metrics(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, seed: int = 0, n_resamples: int = 2000
) -> list[MetricSummary]:
    """One :class:`MetricSummary` per column over the case rows."""
    return [summarise_metric(c, (r.get(c) for r in rows), seed=seed, n_resamples=n_resamples) for c in columns]


def detection_by_size(
    lesion_rows: Iterable[Mapping[str, Any]], size_bins: Sequence[float] = DEFAULT_SIZE_BINS_MM
) -> list[SizeBinDetection]:
    """Reference lesions and detected ones per size bin, then an ``"all"`` row.

    Args:
        lesion_rows: rows of ``lesions.csv`` (keys ``side``, ``size_bin``, ``matched``).
        size_bins: the bin edges used to label them (mm).
    """
    labels = size_bin_labels(size_bins)
    counts = {b: [0, 0] for b in (*labels, OUT_OF_RANGE)}
    for row in lesion_rows:
        if row["side"] != "ref":
            continue
        tally = counts.setdefault(str(row["size_bin"]), [0, 0])
        tally[0] += 1
        tally[1] += int(row["matched"])
    out = [SizeBinDetection(b, n, d) for b, (n, d) in counts.items() if b in labels or n]
    out.append(SizeBinDetection("all", sum(s.lesions for s in out), sum(s.detected for s in out)))
    return out


def lesion_totals(
    case_rows: Sequence[Mapping[str, Any]], lesion_rows: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    """Pooled lesion counts and rates over cases.

    Returns:
        ``tp, fp, fn`` (totals), ``cases`` (cases with lesion metrics), ``fp_per_case_mean``,
        ``fp_per_case_median``, ``precision``, ``sensitivity``, ``f1``, ``pair_dice_mean`` (mean
        Dice of matched pairs) and ``lesion_dice`` (sum of pair Dice / (TP + FP + FN): unmatched
        lesions count as Dice 0).
    """
    fps = [float(r["lesion_fp"]) for r in case_rows if not _is_nan(r.get("lesion_fp"))]
    tp = sum(int(r["lesion_tp"]) for r in case_rows if not _is_nan(r.get("lesion_tp")))
    fn = sum(int(r["lesion_fn"]) for r in case_rows if not _is_nan(r.get("lesion_fn")))
    fp = int(sum(fps))
    pair_dice = [float(r["dice"]) for r in lesion_rows if r["side"] == "ref" and int(r["matched"])]

    def ratio(a: float, b: float) -> float:
        return a / b if b else math.nan

    return {
        "tp": tp, "fp": fp, "fn": fn, "cases": len(fps),
        "fp_per_case_mean": float(np.mean(fps)) if fps else math.nan,
        "fp_per_case_median": float(np.median(fps)) if fps else math.nan,
        "precision": ratio(tp, tp + fp), "sensitivity": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "pair_dice_mean": float(np.mean(pair_dice)) if pair_dice else math.nan,
        "lesion_dice": ratio(sum(pair_dice), tp + fp + fn),
    }


def _is_nan(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _fmt(value: float) -> str:
    return "nan" if value is None or math.isnan(value) else f"{value:.4g}"


def format_summary(
    metrics: Sequence[MetricSummary],
    detection: Sequence[SizeBinDetection],
    totals: Mapping[str, float],
    *,
    title: str = "synthtumor evaluate",
    notes: Sequence[str] = (),
    n_resamples: int = 2000,
    seed: int = 0,
) -> str:
    """The Markdown report: metric table, detection by size, false positives and lesion totals."""
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes]
    lines += [
        f"- 95 % CI: percentile bootstrap of the mean over cases, {n_resamples} resamples, "
        f"numpy default_rng({seed}); NaN values excluded and counted in `nan`.",
        "", "## Per-case metrics", "",
        "| metric | n | nan | mean | std | median | 95 % CI |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in metrics:
        ci = f"[{_fmt(m.ci_low)}, {_fmt(m.ci_high)}]"
        lines.append(f"| {m.name} | {m.n} | {m.nan} | {_fmt(m.mean)} | {_fmt(m.std)} | {_fmt(m.median)} | {ci} |")
    lines += [
        "", "## Lesion detection by size (reference lesions, equivalent radius in mm, bins [lo, hi))", "",
        "| size bin | lesions | detected | sensitivity |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {d.size_bin} | {d.lesions} | {d.detected} | {_fmt(d.sensitivity)} |" for d in detection]
    lines += [
        "", "## Lesions", "",
        f"- TP {totals['tp']}, FP {totals['fp']}, FN {totals['fn']} over {totals['cases']} cases",
        f"- false positives per case: mean {_fmt(totals['fp_per_case_mean'])}, "
        f"median {_fmt(totals['fp_per_case_median'])}, total {totals['fp']}",
        f"- lesion precision {_fmt(totals['precision'])}, sensitivity {_fmt(totals['sensitivity'])}, "
        f"F1 {_fmt(totals['f1'])}",
        f"- Dice of matched pairs (mean) {_fmt(totals['pair_dice_mean'])}; lesion-wise Dice "
        f"(unmatched lesions count 0) {_fmt(totals['lesion_dice'])}",
        "",
    ]
    return "\n".join(lines)
