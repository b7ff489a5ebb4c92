"""Calibration by simulation: turn the fit's knobs until generated lesions measure like the real ones.

A preset's parameters are not what the realism features measure: a rendered lesion is cut by
the organ and the vessels, blurred by the voxels, darkened or brightened by its pattern, and
the scan's noise adds to its spread. So the fit draws lesions with the current preset into the
annotated scans themselves, their own tumours refilled with the scan's parenchyma
(:func:`refill_tumours`: a healthy scan's room, and never a real tumour in the measurement),
measures them as ``synthtumor realism`` measures a generated case
(:func:`synthtumor.realism.features.case_features`, the code that measured the real ones), and
moves each knob toward its target, a median of the real lesions (damped steps, factor 0.8 in
log or linear units):

=================  ===================================================  =====================
knob               target (real median vs synthetic median)             step
=================  ===================================================  =====================
``size``           rendered over drawn equivalent radius, per lesion     ``1 / median``
``contrast``       contrast (HU) of the viable tissue (the lesion's     ``+ d`` HU
                   plus its ``viable_offset_hu``)
``texture``        the viable tissue's std beyond the noise,            ratio
                   ``sqrt(std^2 - sigma^2)``
``edge``           edge 10-90 % width (mm) of the lesions with neither  ratio
                   rim nor necrotic core (all where either side has
                   fewer than 5)
``rough``          irregularity (hull ratio) and sphericity             ``x exp(mean of d_irr / 0.03,
                                                                        d_sph / 0.05)``
``nodule_prob``    lower quartile of sphericity                         ``+ 2.5 (syn - real)``
``elongation``     log of the largest over the smallest semi-axis       ratio
``rim``            rim over middle (HU) of the lesions called rim       ratio
                   (:mod:`~synthtumor.realism.interior`), both sides
``rim_width``      mean rim reach (mm) of the lesions called rim        ratio
``necrosis``       core median HU of the lesions called necrotic,       ``+ d`` HU
                   both sides
``calcification``  share of lesions with a calcified speck              ratio (x 2 while no
                   (:mod:`~synthtumor.realism.calcification`)           drawn one is seen)
=================  ===================================================  =====================

Each knob steps on what its law was fitted from: the contrast and texture laws come from the
viable tissue, so a rim or a necrotic core (moved by their own knobs and pattern weights) never
pulls them; a bright rim just inside the boundary widens the measured edge, so the edge knob
follows the lesions without one; the margin moves the median sphericity, the multi-nodular
shapes its low tail. The viable figures fall back to the whole lesion's where a lesion is too
small for a middle band (:mod:`~synthtumor.realism.interior`).

The size knob is set from each rendered lesion's own ratio of rendered to drawn radius (the
drawn radius before the sub-nodules' shrink), not from the medians: lesions too big for the room
left in a scan are skipped there, which would otherwise pull the knob upward.

Every round draws with the same seeds (common random numbers), so the rounds differ only by
the knobs. A knob whose step reverses its previous step's direction has its step halved, and
doubled again (up to the full step) while it keeps its direction: the margin and the
multi-nodular fraction, which both move sphericity, would otherwise jump back and forth between
two values round after round (a margin of 2 and 4 mm on the phantom bench). After ``rounds``
rounds the kept knobs are the mean of the later half of the rounds' knobs (geometric for the
ratio knobs; Polyak averaging): each round steps on medians of a few dozen lesions, so the knobs
wander around their target, and picking the round that scored best on those same lesions would
keep its luck. Each round records the sum of the KS statistics over the targeted features
(``ks_sum``). Each ratio step is clipped to [0.5, 2].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import ks_2samp

from synthtumor.errors import SynthTumorError
from synthtumor.generators.config import GeneratorConfig
from synthtumor.generators.heuristic import HeuristicGenerator
from synthtumor.metrics import label_lesions
from synthtumor.realism.calcification import is_calcified
from synthtumor.realism.calibration_cases import REFILL_REACH_MM, CalibrationCase, calibration_case, refill_tumours
from synthtumor.realism.features import FeatureSettings, case_features
from synthtumor.realism.interior import interior_profile, is_necrotic, is_plain, is_rim
from synthtumor.realism.lesion_measures import principal_radii_mm
from synthtumor.realism.preset_builder import MIN_PLAIN_LESIONS, Knobs, viable_contrast, viable_std, with_knob

__all__ = ["REFILL_REACH_MM", "TARGETS", "CalibrationCase", "calibrate", "calibration_case", "refill_tumours",
           "simulate"]

#: The features calibration matches.
TARGETS = ("equivalent_radius_mm", "contrast_hu", "std_hu", "edge_width_mm", "irregularity", "sphericity",
           "elongation")
_DAMP = 0.8
#: A difference in irregularity (hull ratio) this large moves the margin knob by a factor e (x 0.8).
_IRREGULARITY_SCALE = 0.03
#: ... and so does a difference in sphericity this large (the margin lowers sphericity too).
_SPHERICITY_SCALE = 0.05


def simulate(preset: dict[str, Any], cases: list[CalibrationCase], reps: int, seed: int,
             settings: FeatureSettings) -> tuple[list[dict[str, Any]], list[float]]:
    """Generate ``reps`` draws of one lesion each into each case and measure every new lesion
    as ``synthtumor realism`` measures a generated case (:func:`case_features` on the rendered
    case itself: its tumour mask holds only the drawn lesion, the annotated tumours having been
    refilled by :func:`calibration_case`): feature rows (plus
    ``elongation`` = largest / smallest principal semi-axis and ``noise_sigma_hu``), and per
    drawn lesion its rendered over drawn equivalent radius; each row also holds the lesion's
    interior (:func:`~synthtumor.realism.interior.interior_profile`)."""
    one = {**preset, "count_law": {"kind": "empirical", "values": [1], "bandwidth": 0}}
    gen = HeuristicGenerator(GeneratorConfig.from_dict(one))
    rows: list[dict[str, Any]] = []
    ratios: list[float] = []
    for i, cal in enumerate(cases):
        prep = cal.prepared
        for rep in range(reps):
            try:
                specs = gen.sample(prep, np.random.default_rng([seed, i, rep]))
            except SynthTumorError:
                continue
            result = gen.render_result(prep, specs)
            out = result.case
            for spec, drawn in zip(specs, result.lesions):
                if drawn.voxels:
                    rendered = (3.0 * drawn.volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)
                    shrink = (1.0 + 0.5 * sum(n[3] ** 3 for n in spec.nodules)) ** (1.0 / 3.0)
                    ratios.append(rendered / (spec.equivalent_radius_mm * shrink))
            if out.tumor is None or not out.tumor.any():
                continue
            measured = case_features(out, settings)
            labels, _ = label_lesions(out.tumor)
            objects = ndi.find_objects(labels)
            spacing = np.asarray(out.spacing)
            for row in measured.rows:
                obj = objects[row["lesion"] - 1]
                mask = labels[obj] == row["lesion"]
                r1, _, r3 = principal_radii_mm(np.argwhere(mask) * spacing)
                rows.append({**row, "elongation": r1 / r3 if r3 > 0 else math.nan,
                             "noise_sigma_hu": cal.noise_sigma_hu, **interior_profile(out.image[obj], mask, spacing)})
    return rows, ratios


def _values(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    x = np.asarray([r.get(key, math.nan) for r in rows], dtype=float)
    return x[np.isfinite(x)]


def _measured(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The targeted features' finite values, plus the viable tissue's contrast and std
    (:func:`~synthtumor.realism.preset_builder.viable_contrast`, ``viable_std``): the quantities
    the contrast and texture laws were fitted from, so their knobs step on them."""
    out = {key: _values(rows, key) for key in TARGETS}
    for key, measure in (("viable_contrast_hu", viable_contrast), ("viable_std_hu", viable_std)):
        x = np.asarray([measure(r) for r in rows], dtype=float)
        out[key] = x[np.isfinite(x)]
    out["plain_edge_width_mm"] = _values([r for r in rows if is_plain(r)], "edge_width_mm")
    return out


def _ratio(real: float, synthetic: float) -> float:
    if not (real > 0 and synthetic > 0):
        return 1.0
    return float(np.clip((real / synthetic) ** _DAMP, 0.5, 2.0))


def _excess(std: float, noise: float) -> float:
    return math.sqrt(max(std * std - noise * noise, (0.05 * noise) ** 2))


def _rim_median(rows: list[dict[str, Any]]) -> float:
    values = [r["rim_hu"] for r in rows if is_rim(r)]
    return float(np.median(values)) if values else math.nan


def _core_median(rows: list[dict[str, Any]]) -> float:
    values = [r["core_hu"] for r in rows if is_necrotic(r) and math.isfinite(r.get("core_hu", math.nan))]
    return float(np.median(values)) if values else math.nan


def _calcified_share(rows: list[dict[str, Any]]) -> float:
    values = [is_calcified(r) for r in rows if math.isfinite(r.get("calcified_specks", math.nan))]
    return float(np.mean(values)) if values else math.nan


def _rim_width_mean(rows: list[dict[str, Any]]) -> float:
    """Mean, not median: the reach comes in 0.5 mm steps."""
    values = [r["rim_width_mm"] for r in rows if is_rim(r) and math.isfinite(r.get("rim_width_mm", math.nan))]
    return float(np.mean(values)) if values else math.nan


def _step(knobs: Knobs, real: dict[str, np.ndarray], syn: dict[str, np.ndarray], noise: float, rough_cap: float,
          ratios: list[float], rims: tuple[float, float] = (math.nan, math.nan),
          rim_widths: tuple[float, float] = (math.nan, math.nan),
          cores: tuple[float, float] = (math.nan, math.nan),
          calcified: tuple[float, float] = (math.nan, math.nan)) -> Knobs:
    med = {k: (float(np.median(v)) if v.size else math.nan) for k, v in syn.items()}
    ref = {k: (float(np.median(v)) if v.size else math.nan) for k, v in real.items()}
    k = knobs
    if ratios:
        target = 1.0 / float(np.median(ratios))
        k = with_knob(k, size=float(np.clip(k.size ** (1 - _DAMP) * target ** _DAMP, 0.2, 5.0)))
    if math.isfinite(med["viable_contrast_hu"]) and math.isfinite(ref["viable_contrast_hu"]):
        k = with_knob(k, contrast=k.contrast + _DAMP * (ref["viable_contrast_hu"] - med["viable_contrast_hu"]))
    if math.isfinite(med["viable_std_hu"]) and math.isfinite(ref["viable_std_hu"]):
        f = _ratio(_excess(ref["viable_std_hu"], noise), _excess(med["viable_std_hu"], noise))
        k = with_knob(k, texture=float(np.clip(k.texture * f, 0.05, 20.0)))
    plain = min(syn["plain_edge_width_mm"].size, real["plain_edge_width_mm"].size)
    edge = "plain_edge_width_mm" if plain >= MIN_PLAIN_LESIONS else "edge_width_mm"
    if math.isfinite(med[edge]) and math.isfinite(ref[edge]):
        k = with_knob(k, edge=float(np.clip(k.edge * _ratio(ref[edge], med[edge]), 0.05, 20.0)))
    signals = []  # > 0: the synthetic surfaces should be rougher
    if math.isfinite(med["irregularity"]) and math.isfinite(ref["irregularity"]):
        # small lesions' hull ratios sit near (even below) 1 from the voxel staircase alone, so the
        # step follows the difference, not a ratio of excesses over 1
        signals.append((ref["irregularity"] - med["irregularity"]) / _IRREGULARITY_SCALE)
    if math.isfinite(med["sphericity"]) and math.isfinite(ref["sphericity"]):
        signals.append((med["sphericity"] - ref["sphericity"]) / _SPHERICITY_SCALE)
    if signals:
        f = math.exp(float(np.clip(_DAMP * float(np.mean(signals)), -math.log(2.0), math.log(2.0))))
        k = with_knob(k, rough=float(np.clip(k.rough * f, 0.02, rough_cap)))
    if math.isfinite(med["sphericity"]) and math.isfinite(ref["sphericity"]):
        low_syn, low_real = (float(np.percentile(v, 25)) for v in (syn["sphericity"], real["sphericity"]))
        nodule_prob = k.nodule_prob + 2.5 * (low_syn - low_real)
        k = with_knob(k, nodule_prob=float(np.clip(nodule_prob, 0.0, 0.95)))
    if math.isfinite(med["elongation"]) and math.isfinite(ref["elongation"]) and med["elongation"] > 1:
        f = _ratio(math.log(max(ref["elongation"], 1.0001)), math.log(med["elongation"]))
        k = with_knob(k, elongation=float(np.clip(k.elongation * f, 0.2, 3.0)))
    if all(math.isfinite(v) and v > 0 for v in rims):
        k = with_knob(k, rim=float(np.clip(k.rim * _ratio(*rims), 0.1, 10.0)))
    if all(math.isfinite(v) and v > 0 for v in rim_widths):
        k = with_knob(k, rim_width=float(np.clip(k.rim_width * _ratio(*rim_widths), 0.2, 5.0)))
    if all(math.isfinite(v) for v in cores):
        k = with_knob(k, necrosis=float(np.clip(k.necrosis + _DAMP * (cores[0] - cores[1]), -100.0, 100.0)))
    if all(math.isfinite(v) for v in calcified) and calcified[0] > 0:
        f = _ratio(*calcified) if calcified[1] > 0 else 2.0
        k = with_knob(k, calcification=float(np.clip(k.calcification * f, 0.2, 5.0)))
    return k


#: Knobs stepped on the log scale (the others, ``contrast``, ``nodule_prob`` and ``necrosis``, linearly).
_LOG_KNOBS = ("size", "texture", "edge", "rough", "elongation", "rim", "rim_width", "calcification")


def _damped(knobs: Knobs, proposed: Knobs, gains: dict[str, float], last: dict[str, int]) -> Knobs:
    """``proposed`` with each knob's step scaled by its gain; a knob whose step reverses the
    direction of its previous one has its gain halved first (so a knob that overshoots, back and
    forth between two values, closes in on the value between them instead), and one that keeps
    its direction has it doubled again, up to 1 (a reversal from noise alone does not slow it
    for good)."""
    changes = {}
    for name in Knobs.__dataclass_fields__:
        old, new = getattr(knobs, name), getattr(proposed, name)
        log = name in _LOG_KNOBS and old > 0 and new > 0
        move = math.log(new / old) if log else new - old
        direction = (move > 0) - (move < 0)
        if direction and last.get(name, 0) == -direction:
            gains[name] = gains.get(name, 1.0) * 0.5
        elif direction and last.get(name, 0) == direction:
            gains[name] = min(gains.get(name, 1.0) * 2.0, 1.0)
        if direction:
            last[name] = direction
        g = gains.get(name, 1.0)
        changes[name] = old * math.exp(g * move) if log else old + g * move
    return with_knob(knobs, **changes)


def _distance(real: dict[str, np.ndarray], syn: dict[str, np.ndarray]) -> float:
    total = 0.0
    for key in TARGETS:
        total += float(ks_2samp(real[key], syn[key]).statistic) if real[key].size and syn[key].size else 1.0
    return total


def calibrate(real_rows: list[dict[str, Any]], cases: list[CalibrationCase], build: Callable[[Knobs], dict[str, Any]],
              start: Knobs, rough_cap: float, *, rounds: int = 6, reps: int = 2, seed: int = 0,
              settings: FeatureSettings | None = None, progress: Callable[[str], None] | None = None,
              fixed: tuple[str, ...] = ()) -> tuple[Knobs, list[dict[str, Any]]]:
    """Run the calibration rounds (module docstring); return the best knobs and each round's record.

    Args:
        real_rows: measured real lesions (feature rows with ``elongation``).
        cases: the annotated scans, cropped and prepared (:func:`calibration_case`).
        build: knobs -> preset mapping.
        start: the first round's knobs.
        rough_cap: the largest ``rough`` knob the base allows.
        rounds: simulation rounds.
        reps: draws per case and round.
        seed: seed of every round's draws.
        settings: realism feature settings.
        progress: called with one line per round.
        fixed: knobs (of ``rim``, ``rim_width``, ``necrosis``, ``calcification``) left at their
            start: the preset takes their law from the base, so they would move nothing while
            their steps ran on.
    """
    settings = settings or FeatureSettings()
    real = _measured(real_rows)
    real_rim, real_width, real_core = _rim_median(real_rows), _rim_width_mean(real_rows), _core_median(real_rows)
    real_rim = math.nan if "rim" in fixed else real_rim  # a NaN target takes no step
    real_width = math.nan if "rim_width" in fixed else real_width
    real_core = math.nan if "necrosis" in fixed else real_core
    real_calcified = math.nan if "calcification" in fixed else _calcified_share(real_rows)
    noise = float(np.median([c.noise_sigma_hu for c in cases]))
    knobs, history, tried = start, [], []
    gains: dict[str, float] = {}
    last: dict[str, int] = {}
    for round_ in range(rounds):
        rows, ratios = simulate(build(knobs), cases, reps, seed, settings)
        syn = _measured(rows)
        distance = _distance(real, syn)
        record = {"round": round_, "knobs": knobs.as_dict(), "synthetic_lesions": len(rows),
                  "rendered_over_drawn_radius": float(f"{np.median(ratios):.4g}") if ratios else None,
                  "ks_sum": float(f"{distance:.4g}"),
                  "synthetic_medians": {k: float(f"{np.median(v):.4g}") if v.size else None for k, v in syn.items()}}
        history.append(record)
        if progress is not None:
            progress(f"round {round_}: {len(rows)} lesions, KS sum {distance:.3f}, knobs {knobs.as_dict()}")
        tried.append(knobs)
        syn_rim, syn_width = float(f"{_rim_median(rows):.4g}"), float(f"{_rim_width_mean(rows):.4g}")
        record["synthetic_medians"]["rim_hu of rim lesions"] = syn_rim
        record["synthetic_medians"]["rim_width_mm mean of rim lesions"] = syn_width
        syn_core = float(f"{_core_median(rows):.4g}")
        record["synthetic_medians"]["core_hu of necrotic lesions"] = syn_core
        syn_calcified = float(f"{_calcified_share(rows):.4g}")
        record["synthetic_medians"]["share of calcified lesions"] = syn_calcified
        step = _step(knobs, real, syn, noise, rough_cap, ratios, (real_rim, syn_rim), (real_width, syn_width),
                     (real_core, syn_core), (real_calcified, syn_calcified))
        knobs = _damped(knobs, step, gains, last)
    return _averaged(tried[len(tried) // 2:]), history


def _averaged(rounds: list[Knobs]) -> Knobs:
    """The mean of the rounds' knobs (geometric for the log knobs): each round's step follows
    medians of a few dozen lesions, so the knobs wander around their target; the mean of the
    later rounds is closer to it than any one round (Polyak averaging)."""
    values = {}
    for name in Knobs.__dataclass_fields__:
        x = np.asarray([getattr(k, name) for k in rounds], dtype=float)
        log = name in _LOG_KNOBS and bool((x > 0).all())
        values[name] = float(np.exp(np.log(x).mean())) if log else float(x.mean())
    return with_knob(rounds[0], **values)
