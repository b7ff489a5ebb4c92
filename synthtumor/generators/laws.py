"""Scalar sampling laws a preset may give instead of a plain range ``[a, b]``.

A preset value is either ``[a, b]`` (``U(a, b)``, kept as a tuple for the presets written by
hand) or a mapping with a ``kind``:

* ``uniform``: ``{kind: uniform, low: a, high: b}``, ``x ~ U(a, b)``;
* ``normal``: ``{kind: normal, mean: m, sd: s, low, high}``, ``x ~ N(m, s^2)`` clipped to
  ``[low, high]``;
* ``lognormal``: ``{kind: lognormal, median: m, sigma: s, low, high}``,
  ``log x ~ N(log m, s^2)`` clipped;
* ``empirical``: ``{kind: empirical, values: [...], bandwidth: h, log: true|false, low, high}``,
  a smoothed empirical law (a kernel density estimate): ``x = v_I + h Z`` (or
  ``x = v_I exp(h Z)`` with ``log: true``), ``I ~ U{0..n-1}``, ``Z ~ N(0, 1)``, clipped. With
  ``bandwidth: 0`` it resamples the values themselves (counts per case).

Every law draws the same number of values from the ``rng`` whatever its parameters (one
uniform for ``uniform``, one normal for ``normal`` / ``lognormal``, one uniform and one normal
for ``empirical``), so a preset's stream of draws does not depend on where its values lie.
``fitted`` is free-form provenance (what it was fitted on); it does not change the law.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from synthtumor.config_rules import span
from synthtumor.errors import ConfigError

__all__ = ["Law", "LAW_KINDS", "parse_law", "law_or_range", "draw_value", "law_median"]

LAW_KINDS = ("uniform", "normal", "lognormal", "empirical")


@dataclass(frozen=True)
class Law:
    """One scalar law (see module docstring).

    Attributes:
        kind: one of ``LAW_KINDS``.
        params: the law's numbers (``low``/``high`` for uniform; ``mean``/``sd``; ``median``/
            ``sigma``; ``bandwidth`` for empirical).
        values: the sample of an empirical law.
        log: an empirical law smooths log values (multiplicative kernel).
        low: clip below (None: no clip).
        high: clip above (None: no clip).
        fitted: provenance, kept for the record.
    """

    kind: str
    params: tuple[tuple[str, float], ...] = ()
    values: tuple[float, ...] = ()
    log: bool = False
    low: float | None = None
    high: float | None = None
    fitted: dict[str, Any] = field(default_factory=dict, compare=False)

    def param(self, name: str) -> float:
        return dict(self.params)[name]

    def draw(self, rng: np.random.Generator) -> float:
        """One value (see the module docstring for the law and the number of draws)."""
        if self.kind == "uniform":
            a, b = self.param("low"), self.param("high")
            x = a + (b - a) * rng.random()
        elif self.kind == "normal":
            x = self.param("mean") + self.param("sd") * float(rng.standard_normal())
        elif self.kind == "lognormal":
            x = self.param("median") * math.exp(self.param("sigma") * float(rng.standard_normal()))
        else:
            i = min(int(rng.random() * len(self.values)), len(self.values) - 1)
            z = float(rng.standard_normal())
            h = self.param("bandwidth")
            x = self.values[i] * math.exp(h * z) if self.log else self.values[i] + h * z
        if self.low is not None:
            x = max(x, self.low)
        if self.high is not None:
            x = min(x, self.high)
        return float(x)

    def to_dict(self) -> dict[str, Any]:
        """The mapping a preset YAML holds (inverse of :func:`parse_law`)."""
        out: dict[str, Any] = {"kind": self.kind, **{k: _num(v) for k, v in self.params}}
        if self.kind == "empirical":
            out["values"] = [_num(v) for v in self.values]
            out["log"] = self.log
        if self.low is not None:
            out["low"] = _num(self.low)
        if self.high is not None:
            out["high"] = _num(self.high)
        if self.fitted:
            out["fitted"] = self.fitted
        return out


def _num(value: float) -> float:
    return float(f"{float(value):.6g}")


def _number(data: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: a {data.get('kind')} law needs {key!r}.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{where}.{key} must be finite, got {value}.")
    return value


def parse_law(data: Mapping[str, Any], where: str, lo: float | None = None, hi: float | None = None) -> Law:
    """Validate a law mapping (see module docstring); ``lo``/``hi`` bound its clip range.

    Raises:
        ConfigError: unknown kind or keys, missing or out-of-range numbers.
    """
    kind = data.get("kind")
    if kind not in LAW_KINDS:
        raise ConfigError(f"{where}: unknown law kind {kind!r}.", fix=f"use one of {list(LAW_KINDS)}, or [low, high].")
    known = {"kind", "low", "high", "fitted", "mean", "sd", "median", "sigma", "values", "bandwidth", "log"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown law keys {unknown}.", fix=f"use {sorted(known)}.")
    low = _number(data, "low", where) if data.get("low") is not None else lo
    high = _number(data, "high", where) if data.get("high") is not None else hi
    if lo is not None and low is not None and low < lo or hi is not None and high is not None and high > hi:
        raise ConfigError(f"{where}: clip range [{low}, {high}] lies outside [{lo}, {hi}].")
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{where}: low {low} is above high {high}.")
    values: tuple[float, ...] = ()
    if kind == "uniform":
        if low is None or high is None:
            raise ConfigError(f"{where}: a uniform law needs low and high.")
        params = (("low", low), ("high", high))
    elif kind == "normal":
        params = (("mean", _number(data, "mean", where)), ("sd", _number(data, "sd", where)))
    elif kind == "lognormal":
        params = (("median", _number(data, "median", where)), ("sigma", _number(data, "sigma", where)))
        if params[0][1] <= 0:
            raise ConfigError(f"{where}.median must be > 0.")
    else:
        raw = data.get("values")
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ConfigError(f"{where}: an empirical law needs a non-empty list of values.")
        values = tuple(_number({"v": v}, "v", where) for v in raw)
        params = (("bandwidth", _number(data, "bandwidth", where, 0.0)),)
        if bool(data.get("log", False)) and min(values) <= 0:
            raise ConfigError(f"{where}: a log empirical law needs values > 0.")
    if any(v < 0 for k, v in params if k in ("sd", "sigma", "bandwidth")):
        raise ConfigError(f"{where}: sd, sigma and bandwidth must be >= 0.")
    fitted = data.get("fitted") or {}
    return Law(str(kind), params, values, bool(data.get("log", False)), low, high,
               dict(fitted) if isinstance(fitted, Mapping) else {"note": str(fitted)})


def law_or_range(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> tuple[float, float] | Law:
    """A law mapping (:func:`parse_law`) or a range ``[a, b]`` (:func:`~synthtumor.config_rules.span`)
    within ``[lo, hi]``; a parsed :class:`Law` stays as it is. A config field's kind
    (:func:`~synthtumor.config_rules.bounded`)."""
    if isinstance(value, Law):
        return value
    if isinstance(value, Mapping):
        return parse_law(value, name, lo, hi)
    return span(value, name, lo, hi)


def draw_value(rng: np.random.Generator, law: tuple[float, float] | Law) -> float:
    """A value of ``law``: a :class:`Law`, or a range ``(a, b)`` drawn as ``U(a, b)`` (one uniform
    draw, none when ``a == b``, as the hand-written presets always have).

    The fast path of ``rng.uniform(a, b)``, its reference: the same value from the same draw
    (numpy computes ``a + (b - a) * random()`` too) at half the cost (about 0.6 us against 1.4 us;
    it is called for every parameter of every lesion), and no draw at all for a fixed value, which
    the presets' streams (and their pinned digests) rely on. ``tests/generators/test_heuristic_laws.py``
    ties the two."""
    if isinstance(law, Law):
        return law.draw(rng)
    a, b = law
    return a + (b - a) * rng.random() if b > a else float(a)


def law_median(law: tuple[float, float] | Law) -> float:
    """The law's median (before clipping): what a report or a fit compares against."""
    if not isinstance(law, Law):
        return 0.5 * (law[0] + law[1])
    if law.kind == "uniform":
        return 0.5 * (law.param("low") + law.param("high"))
    if law.kind == "normal":
        return law.param("mean")
    if law.kind == "lognormal":
        return law.param("median")
    return float(np.median(law.values))
