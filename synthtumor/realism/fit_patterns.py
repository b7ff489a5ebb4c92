"""Fitting a phase's internal patterns to annotated lesions: how often a rim, how often (and at
which size) a necrotic core, and how bright or dark they are.

Each measured lesion is called rim or necrotic by its interior
(:mod:`synthtumor.realism.interior`). From the lesions whose bands could be measured:

* ``necrosis_by_size`` (:class:`~synthtumor.generators.config.AppearanceLaw`): the law
  ``P(necrotic | r) = p / (1 + (R / r)^k)`` of the equivalent radius ``r`` (mm), fitted by maximum
  likelihood on a grid (``k`` in ``STEEPNESS_GRID``, ``R`` 25 radii spaced evenly in log between
  the smallest and largest measured ``r``, ``p`` in 0.05 steps from 0.05 to 1; the first best in
  that order), from ``MIN_EACH`` (3) necrotic and 3 other lesions on; with fewer, no size law and
  ``necrotic_core`` weighted by the measured fraction;
* ``patterns``: ``homogeneous`` and the base preset's rim-like patterns (``enhancing_rim``,
  ``capsule``, ``peripheral_nodular``; ``enhancing_rim`` when the base has none) in the measured
  ratio of rim to rimless lesions among the non-necrotic ones;
* ``rim_hu``: the measured rim excess of the rim lesions (positive law, :func:`fit_positive`),
  which calibration then scales (what is measured is a blurred band, not the rendered peak), and
  ``rim_profile: band`` (a plateau, as a measured rim is, not the base's Gaussian fall);
  ``rim_width_mm``: the measured reach of those rims (positive law, at least 0.5 mm), which
  calibration scales too;
* ``necrosis_hu``: the necrotic cores' median HU (signed law) and ``necrosis_fraction``: their
  share of the radius (positive law, clipped to [0.1, 0.9]).

Below ``MIN_MEASURED`` (5) lesions with a measured interior the base preset's patterns are kept
and ``source`` says so. Everything is deterministic (no random draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthtumor.generators.laws import Law
from synthtumor.realism.fit_laws import fit_positive, fit_signed
from synthtumor.realism.interior import is_necrotic, is_rim

__all__ = ["FittedPatterns", "RIM_LIKE", "MIN_MEASURED", "MIN_EACH", "fit_necrosis_by_size", "fit_patterns"]

RIM_LIKE = ("enhancing_rim", "capsule", "peripheral_nodular")
MIN_MEASURED = 5
MIN_EACH = 3
STEEPNESS_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)


@dataclass(frozen=True)
class FittedPatterns:
    """A phase's fitted pattern keys (None: keep the base preset's) and what they came from."""

    patterns: dict[str, float] | None = None
    necrosis_by_size: tuple[float, float, float] | None = None
    rim_hu: Law | None = None
    rim_width_mm: Law | None = None
    necrosis_hu: Law | None = None
    necrosis_fraction: Law | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def appearance_keys(self) -> dict[str, Any]:
        """The keys to write into the phase's appearance mapping."""
        out: dict[str, Any] = {}
        if self.patterns is not None:
            out["patterns"] = dict(self.patterns)
            out["rim_profile"] = "band"
        if self.necrosis_by_size is not None:
            out["necrosis_by_size"] = dict(zip(("radius_mm", "steepness", "max_prob"), self.necrosis_by_size))
        for key in ("rim_hu", "rim_width_mm", "necrosis_hu", "necrosis_fraction"):
            law = getattr(self, key)
            if law is not None:
                out[key] = law.to_dict()
        return out


def _log_likelihood(r: np.ndarray, y: np.ndarray, size: float, steepness: float, top: float) -> float:
    p = np.clip(top / (1.0 + (size / r) ** steepness), 1e-9, 1.0 - 1e-9)
    return float(np.sum(np.where(y, np.log(p), np.log1p(-p))))


def fit_necrosis_by_size(radii_mm: Sequence[float], necrotic: Sequence[bool]) -> tuple[float, float, float]:
    """``(R, k, p)`` maximising the likelihood of ``necrotic`` under ``p / (1 + (R / r)^k)`` (see
    the module docstring for the grid)."""
    r = np.asarray(radii_mm, dtype=float)
    y = np.asarray(necrotic, dtype=bool)
    sizes = np.geomspace(float(r.min()), float(r.max()), 25) if r.max() > r.min() else np.asarray([float(r[0])])
    best, best_ll = (float(sizes[0]), 0.0, 0.05), -math.inf
    for steepness in STEEPNESS_GRID:
        for size in sizes:
            for top in np.round(np.arange(1, 21) * 0.05, 2):
                ll = _log_likelihood(r, y, float(size), steepness, float(top))
                if ll > best_ll + 1e-9:
                    best, best_ll = (float(f"{size:.4g}"), steepness, float(top)), ll
    return best


def _rim_shares(base_patterns: dict[str, float], rim_fraction: float) -> dict[str, float]:
    rims = {k: w for k, w in base_patterns.items() if k in RIM_LIKE and w > 0} or {"enhancing_rim": 1.0}
    total = sum(rims.values())
    return {"homogeneous": 1.0 - rim_fraction, **{k: rim_fraction * w / total for k, w in rims.items()}}


def fit_patterns(rows: Sequence[dict[str, Any]], base_patterns: dict[str, float]) -> FittedPatterns:
    """Fit the pattern keys of the module docstring to measured lesion ``rows`` (with the keys of
    :data:`synthtumor.realism.interior.INTERIOR_KEYS` and ``equivalent_radius_mm``)."""
    rim_rows = [r for r in rows if math.isfinite(r.get("rim_hu", math.nan))]
    core_rows = [r for r in rows if math.isfinite(r.get("core_drop_hu", math.nan))]
    if len(rim_rows) < MIN_MEASURED:
        return FittedPatterns(record={"source": f"base preset (only {len(rim_rows)} lesion(s) with a measurable "
                                                f"interior; {MIN_MEASURED} needed)"})
    necrotic = [is_necrotic(r) for r in core_rows]
    n_nec = int(sum(necrotic))
    rimless = [r for r in rim_rows if not is_necrotic(r)]
    rim_fraction = float(np.mean([is_rim(r) for r in rimless])) if rimless else 0.0
    shares = _rim_shares(base_patterns, rim_fraction)
    by_size = None
    if n_nec >= MIN_EACH and len(core_rows) - n_nec >= MIN_EACH:
        by_size = fit_necrosis_by_size([r["equivalent_radius_mm"] for r in core_rows], necrotic)
        patterns = {**shares, "necrotic_core": 0.0}
    else:
        p = n_nec / len(rim_rows)  # lesions too small for a core band count as not necrotic
        patterns = {**{k: (1.0 - p) * w for k, w in shares.items()}, "necrotic_core": p}
    patterns = {k: float(f"{w:.4g}") for k, w in patterns.items()}
    rims = [r["rim_hu"] for r in rim_rows if is_rim(r)]
    widths = [r["rim_width_mm"] for r in rim_rows if is_rim(r) and math.isfinite(r.get("rim_width_mm", math.nan))]
    cores = [r for r in core_rows if is_necrotic(r)]
    record = {"source": "measured interiors (synthtumor.realism.interior)", "lesions_with_interior": len(rim_rows),
              "lesions_with_core_band": len(core_rows), "necrotic": n_nec, "rim_among_rimless_or_rimmed":
              f"{sum(is_rim(r) for r in rimless)} of {len(rimless)}"}
    return FittedPatterns(
        patterns=patterns, necrosis_by_size=by_size,
        rim_hu=fit_positive(rims, "rim over middle (HU), rim lesions", floor=1.0) if len(rims) >= MIN_EACH else None,
        rim_width_mm=fit_positive(widths, "rim reach (mm), rim lesions", floor=0.5, cap=20.0)
        if len(widths) >= MIN_EACH else None,
        necrosis_hu=fit_signed([r["core_hu"] for r in cores], "necrotic core median (HU)")
        if len(cores) >= MIN_EACH else None,
        necrosis_fraction=fit_positive([r["core_radius_fraction"] for r in cores],
                                       "necrotic share of the radius", floor=0.1, cap=0.9)
        if len(cores) >= MIN_EACH else None,
        record=record)
