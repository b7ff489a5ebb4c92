"""Fitting one scalar law to measured values (the laws of :mod:`synthtumor.generators.laws`).

* Positive quantities (radii, axis ratios, texture amplitude, edge width): with at least
  ``EMPIRICAL_MIN`` (30) values, a smoothed empirical law on the log scale (kernel density
  estimate, Silverman's bandwidth ``h = 1.06 s n^(-1/5)`` of the log values, ``s`` their
  standard deviation); with fewer, a log-normal law (median ``exp(mean log x)``, sigma the
  standard deviation of ``log x``, at least ``MIN_LOG_SIGMA``). Both are clipped to
  ``[min / widen, max x widen]`` of the data.
* Signed quantities (contrast, HU): the same on the linear scale (normal below 30 values), clipped to
  ``[min - pad, max + pad]``, ``pad`` half the data's range.
* Counts (lesions per case): the empirical law of the counts without smoothing.
* Size dependence: the least-squares slope of ``log y`` on ``log r`` (``r`` the equivalent
  radius), the exponent of ``y ~ r^b``, only from ``SLOPE_MIN`` (10) values on, else 0.

Each law records in ``fitted`` what it came from (``n``, and the median and 10th / 90th
percentiles of the data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from synthtumor.generators.laws import Law

__all__ = ["EMPIRICAL_MIN", "SLOPE_MIN", "fit_positive", "fit_signed", "fit_counts", "fit_size_exponent",
           "scale_law", "shift_law", "power_law", "summary"]

EMPIRICAL_MIN = 30
SLOPE_MIN = 10
MIN_LOG_SIGMA = 0.05
#: Empirical laws keep at most this many values (evenly spaced quantiles beyond it).
MAX_VALUES = 200


def summary(values: Sequence[float]) -> dict[str, float]:
    """``n``, median, 10th and 90th percentiles (rounded) of the finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return {"n": 0}
    q10, q50, q90 = np.percentile(x, [10, 50, 90])
    return {"n": int(x.size), "median": _r(q50), "q10": _r(q10), "q90": _r(q90)}


def _r(value: float) -> float:
    return float(f"{float(value):.5g}")


def _kept(x: np.ndarray) -> tuple[float, ...]:
    x = np.sort(x)
    if x.size > MAX_VALUES:
        x = np.quantile(x, (np.arange(MAX_VALUES) + 0.5) / MAX_VALUES)
    return tuple(_r(v) for v in x)


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        raise ValueError("no finite value to fit")
    return x


def fit_positive(values: Sequence[float], source: str, widen: float = 1.5, floor: float = 1e-3,
                 cap: float = math.inf) -> Law:
    """A positive law of ``values`` (see module docstring); values below ``floor`` are raised to
    it, and the clip range stays within ``[floor, cap]``."""
    x = np.minimum(np.maximum(_finite(values), floor), cap)
    logs = np.log(x)
    spread = float(logs.std()) if x.size > 1 else 0.0
    low, high = _r(max(x.min() / widen, floor)), _r(min(x.max() * widen, cap))
    fitted = {"source": source, **summary(x)}
    if x.size >= EMPIRICAL_MIN:
        h = max(1.06 * spread * x.size ** (-0.2), 0.01)
        return Law("empirical", (("bandwidth", _r(h)),), _kept(x), True, low, high, fitted)
    return Law("lognormal", (("median", _r(math.exp(logs.mean()))), ("sigma", _r(max(spread, MIN_LOG_SIGMA)))),
               (), False, low, high, fitted)


def fit_signed(values: Sequence[float], source: str) -> Law:
    """A law on the linear scale (contrast in HU; see module docstring)."""
    x = _finite(values)
    sd = float(x.std()) if x.size > 1 else 0.0
    pad = 0.5 * float(np.ptp(x)) + 1.0
    low, high = _r(x.min() - pad), _r(x.max() + pad)
    fitted = {"source": source, **summary(x)}
    if x.size >= EMPIRICAL_MIN:
        h = max(1.06 * sd * x.size ** (-0.2), 0.1)
        return Law("empirical", (("bandwidth", _r(h)),), _kept(x), False, low, high, fitted)
    return Law("normal", (("mean", _r(x.mean())), ("sd", _r(max(sd, 1.0)))), (), False, low, high, fitted)


def fit_counts(counts: Sequence[int], source: str) -> Law:
    """The empirical law of lesions per case (no smoothing)."""
    x = np.asarray(counts, dtype=float)
    return Law("empirical", (("bandwidth", 0.0),), tuple(float(v) for v in np.sort(x)), False,
               max(1.0, float(x.min())), float(x.max()), {"source": source, **summary(x)})


def fit_size_exponent(radii_mm: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """``(b, r_ref)``: slope of ``log y`` on ``log r`` (clipped to [-1, 1]) and the median radius
    (mm); ``b = 0`` below ``SLOPE_MIN`` usable pairs or without spread in ``r``."""
    r = np.asarray(radii_mm, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(r) & np.isfinite(y) & (r > 0) & (y > 0)
    r, y = r[ok], y[ok]
    if r.size < SLOPE_MIN:
        return 0.0, float(np.median(r)) if r.size else 10.0
    lr = np.log(r)
    if float(lr.std()) < 1e-6:
        return 0.0, float(np.median(r))
    slope = float(np.polyfit(lr, np.log(y), 1)[0])
    return _r(min(max(slope, -1.0), 1.0)), _r(float(np.median(r)))


def scale_law(law: Law, factor: float) -> Law:
    """The law of ``factor x`` (positive laws: medians, values and clip bounds scaled)."""
    params = tuple((k, _r(v * factor) if k in ("median", "mean", "sd", "low", "high") else v) for k, v in law.params)
    if law.kind == "empirical" and not law.log:
        params = tuple((k, _r(v * factor)) for k, v in law.params)
    return Law(law.kind, params, tuple(_r(v * factor) for v in law.values), law.log,
               None if law.low is None else _r(law.low * factor), None if law.high is None else _r(law.high * factor),
               law.fitted)


def shift_law(law: Law, offset: float) -> Law:
    """The law of ``x + offset`` (signed laws: mean, values and clip bounds shifted)."""
    params = tuple((k, _r(v + offset) if k in ("mean", "low", "high") else v) for k, v in law.params)
    return Law(law.kind, params, tuple(_r(v + offset) for v in law.values), law.log,
               None if law.low is None else _r(law.low + offset), None if law.high is None else _r(law.high + offset),
               law.fitted)


def power_law(law: Law, gamma: float, cap: float = math.inf) -> Law:
    """The law of ``x^gamma`` for a positive law (axis ratios: ``gamma < 1`` rounder), its clip
    range cut at ``cap``."""
    if law.kind == "lognormal":
        params = (("median", _r(law.param("median") ** gamma)), ("sigma", _r(law.param("sigma") * gamma)))
    elif law.kind == "empirical" and law.log:
        params = (("bandwidth", _r(law.param("bandwidth") * gamma)),)
    else:
        raise ValueError(f"power_law needs a log-normal or log-empirical law, got {law.kind}")
    return Law(law.kind, params, tuple(_r(v ** gamma) for v in law.values), law.log,
               None if law.low is None else _r(min(law.low ** gamma, cap)),
               None if law.high is None else _r(min(law.high ** gamma, cap)), law.fitted)
