"""Fitting a phase's calcifications to annotated lesions: how often, how many specks, how bright
and how large.

Each lesion's specks are measured by :mod:`synthtumor.realism.calcification`
(``calcified_specks``, ``calcification_peak_hu``, ``calcification_sigma_mm``). From the measured
lesions:

* ``calcification_prob``: the share of them with at least one speck, from ``MIN_MEASURED`` (5)
  measured lesions on;
* from ``MIN_CALCIFIED`` (3) calcified lesions holding specks on (those no more than
  ``MAX_CALCIFIED_FRACTION``, 30 %, calcified: a calcified mass counts in the share only), also:

  - ``calcification_count``: ``U{a..b}``, the 10th and 90th percentiles (rounded) of the specks
    per calcified lesion (at least 1, at most 20; one fragmented lesion does not set the top);
  - ``calcification_sigma_mm``: the median of the lesions' speck sizes (mm, clipped to
    [0.5, 5]);
  - ``calcification_hu``: a positive law of each lesion's speck amplitude, its peak voxel's
    excess divided by :func:`sampled_peak_fraction` for that size and its scan's spacing (the
    renderer draws a speck as a Gaussian sampled at voxel centres, so a speck smaller than a
    voxel peaks below its amplitude);

  with fewer the base preset's laws stay and only the share is fitted. Calibration then scales
  the share (the ``calcification`` knob, :mod:`synthtumor.realism.calibrate`): a drawn speck can
  fall where the lesion leaves no voxel, or read too dim to be seen, as a real one can.

Where the scans are in the ``arterial`` phase nothing is fitted (the base is kept): an arterial
vessel or an enhancing nodule inside a mask reads as bright as a calcification (this needs the
phase: arterial scans fitted as ``default`` are measured like any other). ``source`` says
why in each case. Everything is deterministic (no random draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from synthtumor.generators.laws import Law
from synthtumor.realism.calcification import is_calcified, is_calcified_mass
from synthtumor.realism.fit_laws import fit_positive

__all__ = ["FittedCalcification", "MIN_MEASURED", "MIN_CALCIFIED", "MAX_SPECKS", "fit_calcification",
           "sampled_peak_fraction"]

MIN_MEASURED = 5
MIN_CALCIFIED = 3
MAX_SPECKS = 20
SIGMA_RANGE_MM = (0.5, 5.0)


@dataclass(frozen=True)
class FittedCalcification:
    """A phase's fitted calcification keys (None: keep the base preset's) and what they came from."""

    prob: float | None = None
    count: tuple[int, int] | None = None
    sigma_mm: float | None = None
    hu: Law | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def appearance_keys(self) -> dict[str, Any]:
        """The keys to write into the phase's appearance mapping."""
        out: dict[str, Any] = {}
        if self.prob is not None:
            out["calcification_prob"] = self.prob
        if self.count is not None:
            out["calcification_count"] = [float(self.count[0]), float(self.count[1])]
        if self.sigma_mm is not None:
            out["calcification_sigma_mm"] = self.sigma_mm
        if self.hu is not None:
            out["calcification_hu"] = self.hu.to_dict()
        return out


def sampled_peak_fraction(sigma_mm: float, spacing_mm: Sequence[float]) -> float:
    """Expected value of a Gaussian speck's brightest voxel as a fraction of its amplitude.

    A speck of sigma ``sigma_mm`` centred uniformly within a voxel of sides ``s_a`` (mm) is
    sampled at the nearest voxel centre, offset ``u_a ~ U(-s_a / 2, s_a / 2)`` per axis:
    ``E[exp(-|u|^2 / (2 sigma^2))] = prod_a (sigma sqrt(2 pi) / s_a) (2 Phi(s_a / (2 sigma)) - 1)``.
    """
    sigma = float(sigma_mm)
    out = 1.0
    for s in spacing_mm:
        s = float(s)
        out *= sigma * math.sqrt(2.0 * math.pi) / s * (2.0 * float(ndtr(s / (2.0 * sigma))) - 1.0)
    return out


def _count_range(counts: Sequence[int]) -> tuple[int, int]:
    low, high = (int(round(float(q))) for q in np.percentile(counts, [10, 90]))
    low = min(max(low, 1), MAX_SPECKS)
    return low, min(max(high, low), MAX_SPECKS)


def fit_calcification(rows: Sequence[dict[str, Any]], spacings: Sequence[Sequence[float]],
                      phase_key: str) -> FittedCalcification:
    """Fit the calcification keys of the module docstring.

    Args:
        rows: measured lesions with the calcification keys of
            :data:`synthtumor.realism.interior.INTERIOR_KEYS`.
        spacings: each row's scan spacing (mm), in the same order.
        phase_key: the appearance phase being fitted.
    """
    if phase_key == "arterial":
        return FittedCalcification(record={"source": "base preset (arterial phase: enhancing vessels and nodules "
                                                     "read as bright as calcifications)"})
    measured = [(r, s) for r, s in zip(rows, spacings) if math.isfinite(r.get("calcified_specks", math.nan))]
    if len(measured) < MIN_MEASURED:
        return FittedCalcification(record={"source": f"base preset (only {len(measured)} lesion(s) measured; "
                                                     f"{MIN_MEASURED} needed)"})
    any_calcified = [(r, s) for r, s in measured if is_calcified(r)]
    prob = float(f"{len(any_calcified) / len(measured):.4g}")
    calcified = [(r, s) for r, s in any_calcified
                 if not is_calcified_mass(r) and math.isfinite(r.get("calcification_peak_hu", math.nan))]
    record = {"source": "measured specks (synthtumor.realism.calcification)", "lesions_measured": len(measured),
              "calcified": len(any_calcified), "holding_specks": len(calcified)}
    if len(calcified) < MIN_CALCIFIED:
        record["laws"] = (f"base preset's count, size and HU (fewer than {MIN_CALCIFIED} calcified lesions "
                          "holding specks)")
        return FittedCalcification(prob=prob, record=record)
    counts = [int(r["calcified_specks"]) for r, _ in calcified]
    sigmas = [float(np.clip(r["calcification_sigma_mm"], *SIGMA_RANGE_MM)) for r, _ in calcified]
    amplitudes = [r["calcification_peak_hu"] / sampled_peak_fraction(sig, s)
                  for (r, s), sig in zip(calcified, sigmas)]
    return FittedCalcification(
        prob=prob,
        count=_count_range(counts),
        sigma_mm=float(f"{np.median(sigmas):.4g}"),
        hu=fit_positive(amplitudes, "speck amplitude (HU over the viable tissue), peak voxel over its sampled fraction",
                        floor=1.0, cap=2000.0),
        record=record)
