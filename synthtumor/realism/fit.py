"""Fit a generator preset to annotated lesions: measure, fit laws, calibrate by simulation.

``fit_preset`` is what ``synthtumor fit-preset`` runs:

1. **measure** every lesion of every case (:func:`synthtumor.realism.lesion_measures.measure_case`:
   the realism features, principal radii, distances to vessels, organ surface and other
   lesions; per case the noise and lesion count);
2. **fit** the laws (:func:`synthtumor.realism.preset_builder.fit_laws`): size as a positive law
   of the equivalent radius (log-normal below 30 lesions, a smoothed empirical law from 30 on),
   lesions per case, axis ratios, contrast for the phase, texture relative to the scan noise
   (with its slope on size), edge width (of the lesions with neither rim nor necrotic core),
   placement distances and the subcapsular fraction, the internal patterns from each lesion's
   interior (:mod:`synthtumor.realism.fit_patterns`: how often a rim and how deep it reaches, how
   often and from which size a necrotic core, the core's HU and share of the radius; the base's
   rim or core laws where fewer than 3 lesions show one), the calcifications from each lesion's
   bright specks (:mod:`synthtumor.realism.fit_calcification`: how often, how many, how large and
   how bright; the base's laws where fewer than 3 lesions hold one, and in the arterial phase);
   the base preset's texture scale, sub-nodule count, offset and scale and mass effect are kept;
   every lesion renders as one connected lesion (``single_component``);
3. **calibrate** (:mod:`synthtumor.realism.calibrate`): draw lesions with the preset into the
   annotated scans themselves (their tumours refilled with parenchyma, so the scans hold the room
   of healthy ones), measure them with the same code, and move size, contrast, texture, edge,
   surface roughness, the multi-nodular fraction, elongation, the rim's brightness and reach, the
   necrotic cores' HU and the calcified share until their medians meet the real ones (the lower
   quartile for the multi-nodular fraction's sphericity, the mean for the rim's reach, the share
   of lesions with a speck; the rim, core and calcification knobs only where their laws were
   fitted);
4. return the preset mapping with ``provenance``: dataset, cases, lesions, phase, base, every
   measured feature's median and 10-90 % range, the knobs and each calibration round.

Everything is deterministic: cases in id order, every draw from ``default_rng([seed, ...])``.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from synthtumor import __version__
from synthtumor.calibration_defaults import CALIBRATION_ROUNDS
from synthtumor.case import Phase
from synthtumor.errors import DatasetLayoutError
from synthtumor.generators.config import GeneratorConfig, load_preset_dict
from synthtumor.io.layouts import load_dataset
from synthtumor.realism.calibrate import calibrate, calibration_case
from synthtumor.realism.compare import MIN_LESIONS, TooFewLesionsError
from synthtumor.realism.features import FeatureSettings
from synthtumor.realism.lesion_measures import MeasuredCase, measure_case
from synthtumor.realism.preset_builder import Knobs, build_preset, fit_laws, max_rough

__all__ = ["fit_preset", "MAX_CALIBRATION_CASES", "SYNTHETIC_PER_ROUND"]

#: At most this many annotated scans (the first in id order) are drawn into while calibrating.
MAX_CALIBRATION_CASES = 12
#: Each calibration round aims at about this many synthetic lesions (one-lesion draws per case, 2 to 12).
SYNTHETIC_PER_ROUND = 80


def _selected_refs(root: Path, label_map, phase: str | None, expect_ct: bool):
    dataset = load_dataset(root, label_map)
    refs = sorted(dataset.refs, key=lambda r: r.case_id)
    if phase is None:
        phases = {r.phase for r in refs}
        target = phases.pop() if len(phases) == 1 else Phase.UNKNOWN.value
        return refs, target
    target = Phase.parse(phase).value
    kept = [replace(r, phase=target) for r in refs if r.phase in (target, Phase.UNKNOWN.value)]
    if not kept:
        raise DatasetLayoutError(
            f"the dataset {root} has no case in the {target} phase (its cases are: "
            f"{', '.join(sorted({r.phase for r in refs}))}).",
            fix="drop --phase, or give the phase its cases are in.")
    return kept, target


def fit_preset(
    real: str | os.PathLike,
    *,
    base: str = "liver_metastasis",
    label_map=None,
    phase: str | None = None,
    name: str | None = None,
    seed: int = 0,
    rounds: int = CALIBRATION_ROUNDS,
    lesions_per_round: int = SYNTHETIC_PER_ROUND,
    min_volume_ml: float = 0.05,
    expect_ct: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit a preset to the annotated lesions of ``real`` (see module docstring).

    Args:
        real: dataset folder (any layout synthtumor reads) whose labels mark tumours.
        base: the preset whose choices are kept where the data cannot tell (name or YAML path).
        label_map: label roles of the dataset (None: its layout's own).
        phase: the scans' contrast phase: cases recorded in another phase are left out, cases of
            unknown phase are taken as this one; the fitted appearance goes to this phase
            (None: the phase all cases share, else ``default``).
        name: the preset's name (default ``fitted_<base>``).
        seed: seed of the calibration draws.
        rounds: calibration rounds (0: the laws as measured, no calibration).
        lesions_per_round: synthetic lesions each round aims at (one-lesion draws per case, 2 to 12).
        min_volume_ml: lesions below this volume (mL) are not measured.
        expect_ct: refuse scans that are not CT in HU.
        progress: called with a line per step.

    Returns:
        The preset mapping (what ``--out`` receives as YAML).

    Raises:
        TooFewLesionsError: fewer than 5 measurable lesions in the dataset.
        DatasetLayoutError, ConfigError, CaseFileError: unreadable input or a bad base preset.
    """
    say = progress or (lambda line: None)
    root = Path(real)
    base_raw = load_preset_dict(base)
    base_cfg = GeneratorConfig.from_dict(base_raw)
    if base_cfg.blend:
        raise DatasetLayoutError(f"the base preset {base!r} blends other presets; fit one of its members.",
                                 fix="use e.g. --base liver_metastasis.")
    refs, target = _selected_refs(root, label_map, phase, expect_ct)
    phase_key = "default" if target == Phase.UNKNOWN.value else target
    settings = FeatureSettings(min_volume_ml=float(min_volume_ml))
    measured: list[MeasuredCase] = []
    calibration = []
    for ref in refs:
        case = ref.load(expect_ct)
        m = measure_case(case, settings)
        measured.append(m)
        say(f"measured {case.case_id}: {len(m.rows)} lesion(s)")
        if m.rows and len(calibration) < MAX_CALIBRATION_CASES and case.organ is not None:
            calibration.append(calibration_case(case))
    rows = [r for m in measured for r in m.rows]
    skipped = sum(m.skipped for m in measured)
    if len(rows) < MIN_LESIONS:
        small = f" ({skipped} more below {min_volume_ml:g} mL were skipped)" if skipped else ""
        raise TooFewLesionsError(
            f"the dataset {root} has {len(rows)} measurable lesion(s) in {len(refs)} case(s){small}; "
            f"fitting a preset needs at least {MIN_LESIONS}.",
            fix="add annotated cases, check that the label map marks tumours (--label-map), or keep the base preset.")
    laws = fit_laws(measured, base_cfg, phase_key)
    name = name or f"fitted_{base_cfg.name}"
    start = Knobs(nodule_prob=base_cfg.nodules.prob if base_cfg.nodules.prob > 0 else 0.3)
    knobs, history = start, []
    if rounds > 0 and calibration:
        real_rows = [{**r, "elongation": r["radius_1_mm"] / r["radius_3_mm"] if r["radius_3_mm"] > 0 else math.nan}
                     for r in rows]
        reps = int(min(12, max(2, math.ceil(lesions_per_round / len(calibration)))))
        knobs, history = calibrate(real_rows, calibration,
                                   lambda k: build_preset(base_raw, base_cfg, laws, k, phase_key, name),
                                   start, max_rough(base_cfg), rounds=rounds, reps=reps, seed=seed,
                                   settings=settings, progress=say, fixed=_unfitted_knobs(laws))
    preset = build_preset(base_raw, base_cfg, laws, knobs, phase_key, name)
    preset["description"] = f"fitted by synthtumor fit-preset to {len(rows)} lesions of {root}"
    preset["provenance"] = {
        "fitted_by": f"synthtumor {__version__} fit-preset",
        "dataset": str(root), "cases": len(refs), "cases_with_lesions": sum(1 for m in measured if m.rows),
        "lesions": len(rows), "lesions_skipped_below_min_volume": skipped, "min_volume_ml": float(min_volume_ml),
        "phase": phase_key, "base": base_cfg.name, "seed": seed, "calibration_rounds": rounds,
        "calibration_cases": len(calibration),
        "kept_from_base": [*_kept_appearance(laws.patterns, laws.calcification), "texture_scale_mm",
                           "mass_effect_min_radius_mm", "mass_effect_strength", "nodules count, offset and scale",
                           "appearance of the other phases"],
        "measured": laws.measured,
        "patterns": laws.patterns.record,
        "calcification": laws.calcification.record,
        "fitted": {"texture_size_exponent": laws.texture_exponent, "texture_ref_radius_mm": laws.texture_ref_radius_mm,
                   "placement": {k: float(f"{v:.4g}") for k, v in laws.placement.items()}},
        "knobs": knobs.as_dict(),
        "calibration": history,
    }
    GeneratorConfig.from_dict(preset)  # what generate will read: fail here, not there
    return preset


def _kept_appearance(patterns, calcification) -> list[str]:
    """Which appearance laws the base preset still gives (for the provenance)."""
    kept = ["appearance patterns and their rim / necrosis laws"] if patterns.patterns is None else [
        name for name, law in (("rim_hu", patterns.rim_hu), ("rim_width_mm", patterns.rim_width_mm),
                               ("necrosis_hu", patterns.necrosis_hu),
                               ("necrosis_fraction", patterns.necrosis_fraction)) if law is None]
    if calcification.prob is None:
        kept.append("calcification share and laws")
    elif calcification.hu is None:
        kept.append("calcification count, size and HU")
    return kept


def _unfitted_knobs(laws) -> tuple[str, ...]:
    """The knobs whose law the preset takes from the base (too few rims, cores or calcified
    lesions to fit one): calibration leaves them alone, as they would move nothing."""
    fitted = {"rim": laws.patterns.rim_hu, "rim_width": laws.patterns.rim_width_mm,
              "necrosis": laws.patterns.necrosis_hu, "calcification": laws.calcification.hu}
    return tuple(name for name, law in fitted.items() if law is None)
