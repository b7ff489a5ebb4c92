"""Preset laws of a lesion's overall shape: elongation and multi-nodular sub-nodules.

* ``elongation: {long: LAW, flat: LAW}`` (both >= 1): the semi-axes are ``r_eq (k1, k2, k3)``
  with ``k1 / k2 = a ~ long``, ``k2 / k3 = b ~ flat`` and ``k1 k2 k3 = 1``, so the base
  ellipsoid keeps the volume of the sphere of radius ``r_eq`` (mm): ``k2 = (b / a)^(1/3)``,
  ``k1 = a k2``, ``k3 = k2 / b``. Absent: each semi-axis is ``r_eq U(axis_jitter)``.
* ``nodules: {prob, count, offset, scale, min_radius_mm}``: a lesion of equivalent radius at
  least ``min_radius_mm`` (mm) is multi-nodular with probability ``prob``; it then has
  ``K ~ U{count}`` sub-nodules, each at direction ``d`` uniform on the unit sphere (lesion
  axes), offset ``q = t d``, ``t ~ offset`` (fraction of the main radii), with radii ``s r``,
  ``s ~ scale``. The main radii are then divided by ``(1 + 0.5 sum_k s_k^3)^(1/3)``: about half
  of each nodule lies outside the main body, so the union keeps roughly the volume drawn for it
  (``fit-preset`` calibrates what remains).

Each law is ``[a, b]`` (uniform) or a :mod:`synthtumor.generators.laws` mapping. Nothing is
drawn for ``nodules`` when ``prob`` is 0, so presets without sub-nodules draw the same stream as
before they existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from synthtumor.config_rules import ConfigError, bounded, built, check_fields, span
from synthtumor.generators.laws import draw_value, law_or_range

__all__ = ["NoduleLaw", "parse_elongation", "parse_nodules", "elongated_axes", "draw_nodules"]


def _whole_range(value: Any, name: str, lo: int, hi: int) -> tuple[int, int]:
    """Whole numbers ``[a, b]`` within ``[lo, hi]``, as ints."""
    a, b = span(value, name, lo, hi)
    if a != int(a) or b != int(b):
        raise ConfigError(f"{name} must be whole numbers [a, b] in {lo}..{hi}, got [{a}, {b}].")
    return (int(a), int(b))


@dataclass(frozen=True)
class NoduleLaw:
    """Sub-nodule laws (see module docstring); ``prob`` 0 means single-body lesions. Each range
    is checked however the law is built (:mod:`synthtumor.config_rules`)."""

    prob: float = bounded(0.0, 0, 1)
    count: tuple[int, int] = bounded((1, 3), 1, 6, _whole_range)
    offset: Any = bounded((0.5, 0.9), 0.0, 1.2, law_or_range)
    scale: Any = bounded((0.4, 0.7), 0.1, 1.0, law_or_range)
    min_radius_mm: float = bounded(5.0, 0)
    fitted: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_fields(self, "nodules")


def parse_elongation(data: Any, where: str) -> dict[str, Any]:
    """``{long: LAW, flat: LAW}``, each a law or range of axis ratios in [1, 6]; empty or None:
    no elongation laws (``{}``). A config field's kind (:func:`~synthtumor.config_rules.bounded`)."""
    if not data:
        return {}
    if not isinstance(data, Mapping) or set(data) - {"long", "flat"}:
        raise ConfigError(f"{where} must be a mapping with keys long and flat (axis ratios >= 1).")
    return {key: law_or_range(data.get(key, [1.0, 1.0]), f"{where}.{key}", 1.0, 6.0) for key in ("long", "flat")}


def parse_nodules(data: Any, where: str) -> NoduleLaw:
    """A ``nodules`` mapping (see module docstring) as a :class:`NoduleLaw` (one stays as it is)."""
    if isinstance(data, NoduleLaw):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping (prob, count, offset, scale, min_radius_mm).")
    unknown = sorted(set(data) - {"prob", "count", "offset", "scale", "min_radius_mm", "fitted"})
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}.")
    laws = {k: v for k, v in data.items() if k != "fitted"}
    return built(NoduleLaw, where, **laws, fitted=dict(data.get("fitted") or {}))


def elongated_axes(rng: np.random.Generator, r_eq: float, elongation: Mapping[str, Any]) -> np.ndarray:
    """Semi-axes (mm) of volume-preserving ratio ``long``, ``flat`` around ``r_eq`` (2 draws)."""
    a = max(1.0, draw_value(rng, elongation["long"]))
    b = max(1.0, draw_value(rng, elongation["flat"]))
    k2 = (b / a) ** (1.0 / 3.0)
    return np.array([r_eq * a * k2, r_eq * k2, r_eq * k2 / b])


def draw_nodules(rng: np.random.Generator, radii: np.ndarray, law: NoduleLaw
                 ) -> tuple[np.ndarray, tuple[tuple[float, float, float, float], ...]]:
    """Sub-nodules of one lesion and its shrunk main radii (mm); nothing drawn when ``prob`` is 0.

    Draws: one uniform (multi-nodular or not), then if it is: ``K``, and per nodule three
    normals, ``t`` and ``s``.
    """
    if law.prob <= 0.0:
        return radii, ()
    multi = rng.random() < law.prob
    if not multi or float(np.prod(radii)) ** (1.0 / 3.0) < law.min_radius_mm:
        return radii, ()
    k = int(rng.integers(law.count[0], law.count[1] + 1))
    nodules = []
    for _ in range(k):
        x, y, z = rng.standard_normal(3).tolist()
        norm = math.sqrt(x * x + y * y + z * z) or 1.0
        t = draw_value(rng, law.offset)
        s = min(max(draw_value(rng, law.scale), 0.1), 1.0)
        nodules.append((t * x / norm, t * y / norm, t * z / norm, s))
    shrink = (1.0 + 0.5 * sum(n[3] ** 3 for n in nodules)) ** (-1.0 / 3.0)
    return radii * shrink, tuple(nodules)
