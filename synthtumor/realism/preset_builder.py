"""From measured lesions to a preset mapping: the fitted laws, the knobs calibration turns, the YAML.

What each key of the written preset comes from (the rest is the base preset's):

==============================  ============================================================
preset key                      fitted from
==============================  ============================================================
``size_law``                    equivalent radius (mm), positive law (:mod:`.fit_laws`),
                                scaled by the ``size`` knob
``count_law``                   measured lesions per case with lesions (empirical)
``elongation.long`` / ``flat``  principal semi-axis ratios ``r1 / r2`` and ``r2 / r3``, raised
                                to the ``elongation`` knob
``margin_mm``                   infiltrative margin ``U(0.5 k, 1.5 k)`` mm, ``k`` the ``rough``
                                knob; ``margin_scale_mm`` ``U(s, 2 s)``, ``s`` the larger of 1 mm
                                and the median in-plane spacing (lobulation, irregularity: the
                                base's)
``single_component``            true: each drawn lesion renders as one connected lesion, as
                                each annotated one was measured (no islands of its margin)
``nodules.prob``                the ``nodule_prob`` knob (count, offset, scale: the base's, or
                                ``[1, 4]``, ``[0.7, 1.2]``, ``[0.4, 0.7]``)
``edge_width_mm``               measured edge width less the voxel's partial-volume width (in
                                quadrature; ``2.563 x 0.29 x`` the RMS spacing, mm), of
                                the lesions with neither rim nor necrotic core (all lesions
                                where fewer than 5 are plain), times the ``edge`` knob
``appearance.<phase>``          ``patterns``, ``necrosis_by_size``, ``rim_hu`` (times the ``rim``
                                knob), ``rim_width_mm`` (times ``rim_width``), ``rim_profile``,
                                ``necrosis_hu`` (plus the ``necrosis`` knob, HU),
                                ``necrosis_fraction``: from the measured
                                interiors (:mod:`.fit_patterns`; the base's where too few lesions
                                have one); ``calcification_prob``, ``_count``, ``_sigma_mm``,
                                ``_hu``: from the measured specks (:mod:`.fit_calcification`;
                                the base's where too few lesions are calcified, and in the
                                arterial phase; the share times the ``calcification`` knob); the
                                base's other pattern parameters; ``contrast_hu``:
                                measured contrast (HU) of the viable tissue (the lesion's contrast
                                plus its ``viable_offset_hu``) plus the ``contrast`` knob;
                                ``texture``: the excess of the viable tissue's std (the middle
                                band's; the lesion's where it has none) over the scan noise,
                                ``sqrt(max(std^2 - sigma^2, (0.1 sigma)^2)) / sigma``, times the
                                ``texture`` knob; ``texture_size_exponent``: its slope on radius
``placement``                   ``subcapsular_prob``: fraction touching the organ surface;
                                ``vessel_clearance_mm``, ``boundary_margin_mm`` (lesions not
                                touching the surface) and ``min_gap_mm``: the 5th percentile of the
                                measured distances less one voxel diagonal, never above the base;
                                ``vessel_reach``: ``clip(1 - f, 0.3, 1)``, ``f`` the fraction of
                                lesions within 1.5 voxel diagonals of a vessel; ``on_no_room``:
                                ``skip`` (shrinking would bend the fitted size law)
==============================  ============================================================
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from synthtumor.generators.config import AppearanceLaw, GeneratorConfig
from synthtumor.generators.laws import Law
from synthtumor.lesions.shape import VOXEL_BOX_STD
from synthtumor.realism.calcification import is_calcified, is_calcified_mass
from synthtumor.realism.fit_calcification import FittedCalcification, fit_calcification
from synthtumor.realism.fit_laws import (fit_counts, fit_positive, fit_signed, fit_size_exponent, power_law,
                                         scale_law, shift_law, summary)
from synthtumor.realism.fit_patterns import FittedPatterns, fit_patterns
from synthtumor.realism.interior import is_plain
from synthtumor.realism.lesion_measures import MeasuredCase

__all__ = ["MIN_PLAIN_LESIONS", "FittedLaws", "Knobs", "fit_laws", "build_preset",
           "excess_texture", "plain_lesions",
           "viable_contrast", "viable_std"]

#: Largest axis ratio a preset takes (shape_laws: elongation ratios in [1, 6]).
_MAX_RATIO = 6.0
#: Largest infiltrative-margin amplitude (mm) calibration goes to.
_MAX_MARGIN_MM = 4.0


def excess_texture(std_hu: float, noise_hu: float) -> float:
    """Lesion texture beyond the scan noise, in noise sigmas (at least 0.1)."""
    return math.sqrt(max(std_hu * std_hu - noise_hu * noise_hu, (0.1 * noise_hu) ** 2)) / noise_hu


@dataclass(frozen=True)
class Knobs:
    """What calibration turns (see the module docstring for where each acts)."""

    size: float = 1.0
    contrast: float = 0.0
    texture: float = 1.0
    edge: float = 1.0
    rough: float = 1.0  # infiltrative margin amplitude (mm)
    nodule_prob: float = 0.3
    elongation: float = 1.0
    rim: float = 1.0  # scales the fitted rim_hu law
    rim_width: float = 1.0  # scales the fitted rim_width_mm law
    necrosis: float = 0.0  # shifts the fitted necrosis_hu law (HU)
    calcification: float = 1.0  # scales the fitted calcification share (at most 1)

    def as_dict(self) -> dict[str, float]:
        return {k: float(f"{getattr(self, k):.5g}") for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FittedLaws:
    """Laws fitted to measured lesions, before the knobs."""

    size: Law
    count: Law
    long: Law
    flat: Law
    contrast: Law
    texture: Law
    texture_exponent: float
    texture_ref_radius_mm: float
    edge: Law | None
    placement: dict[str, float]
    margin_scale_mm: float = 1.0
    patterns: FittedPatterns = field(default_factory=FittedPatterns)
    calcification: FittedCalcification = field(default_factory=FittedCalcification)
    measured: dict[str, Any] = field(default_factory=dict)


def _q05(values: list[float]) -> float | None:
    x = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.percentile(x, 5)) if x else None


def fit_laws(cases: list[MeasuredCase], base: GeneratorConfig, phase_key: str = "default") -> FittedLaws:
    """Fit every law of the module docstring to the measured lesions of ``cases`` (the patterns
    start from the base's in ``phase_key``)."""
    rows = [(c, r) for c in cases for r in c.rows]
    radius = [r["equivalent_radius_mm"] for _, r in rows]
    long = [r["radius_1_mm"] / r["radius_2_mm"] for _, r in rows if r["radius_2_mm"] > 0]
    flat = [r["radius_2_mm"] / r["radius_3_mm"] for _, r in rows if r["radius_3_mm"] > 0]
    textured = [(c, r, viable_std(r)) for c, r in rows]
    if not any(math.isfinite(std) for _, _, std in textured):  # every lesion calcified: their whole spread
        textured = [(c, r, r["std_hu"]) for c, r in rows]
    textured = [(c, r, std) for c, r, std in textured if math.isfinite(std) and c.noise_sigma_hu > 0]
    excess = [excess_texture(std, c.noise_sigma_hu) for c, _, std in textured]
    radii_t = [r["equivalent_radius_mm"] for _, r, _ in textured]
    exponent, ref = fit_size_exponent(radii_t, excess)
    texture = fit_positive(excess, "viable tissue's std beyond the scan noise, in noise sigmas")
    if exponent:  # the law holds at r_ref: divide each value by its size factor before fitting
        adjusted = [e / (r / ref) ** exponent for e, r in zip(excess, radii_t)]
        texture = fit_positive(adjusted, f"viable tissue's std beyond the scan noise at r = {ref} mm, in noise sigmas")
    edges = []
    measured_edges = [(c, r) for c, r in rows if math.isfinite(r["edge_width_mm"])]
    for c, r in plain_lesions(measured_edges, lambda row: row[1]):
        # the voxel's own 10-90 % width: the renderer's partial-volume sigma along a normal is
        # 0.29 |s . n|, whose square averages to 0.29^2 mean(s^2) over a sphere's normals
        pv = 2.5631 * VOXEL_BOX_STD * math.sqrt(float(np.mean(np.square(c.spacing))))
        edges.append(math.sqrt(max(r["edge_width_mm"] ** 2 - pv * pv, 0.25)))
    diag = float(np.median([np.linalg.norm(c.spacing) for c in cases]))
    rules = base.placement
    placement = {"subcapsular_prob": float(np.mean([r["subcapsular"] for _, r in rows]))}
    abut = [r["vessel_distance_mm"] <= 1.5 * diag for _, r in rows if math.isfinite(r["vessel_distance_mm"])]
    placement["vessel_reach"] = float(np.clip(1.0 - np.mean(abut), 0.3, 1.0)) if abut else rules.vessel_reach
    for key, values in (("vessel_clearance_mm", [r["vessel_distance_mm"] for _, r in rows]),
                        ("boundary_margin_mm", [r["surface_distance_mm"] for _, r in rows if not r["subcapsular"]]),
                        ("min_gap_mm", [r["neighbour_gap_mm"] for _, r in rows])):
        q = _q05(values)
        placement[key] = getattr(rules, key) if q is None else min(getattr(rules, key), max(q - diag, 0.0))
    counts = [len(c.rows) for c in cases if c.rows]
    measured = {name: summary([r[name] for _, r in rows]) for name in
                ("volume_ml", "equivalent_radius_mm", "sphericity", "irregularity", "contrast_hu", "std_hu",
                 "glcm_contrast", "glcm_homogeneity", "edge_width_mm", "vessel_distance_mm", "surface_distance_mm",
                 "neighbour_gap_mm")}
    measured["lesions_per_case"] = summary(counts)
    measured["noise_sigma_hu"] = summary([c.noise_sigma_hu for c in cases])
    return FittedLaws(
        size=fit_positive(radius, "equivalent radius (mm)"),
        count=fit_counts(counts, "measured lesions per case with lesions"),
        long=fit_positive(long, "principal semi-axis ratio r1 / r2", floor=1.0, cap=_MAX_RATIO),
        flat=fit_positive(flat, "principal semi-axis ratio r2 / r3", floor=1.0, cap=_MAX_RATIO),
        contrast=_viable_contrast([r for _, r in rows]),
        texture=texture, texture_exponent=exponent, texture_ref_radius_mm=ref,
        edge=fit_positive(edges, "edge 10-90 % width less the voxel's (mm), lesions without rim or core "
                          "(all where fewer than 5)") if edges else None,
        placement=placement, measured=measured,
        patterns=fit_patterns([r for _, r in rows], dict(base.law_for(phase_key).patterns)),
        calcification=fit_calcification([r for _, r in rows], [c.spacing for c, _ in rows], phase_key),
        margin_scale_mm=max(1.0, float(np.median([min(c.spacing[:2]) for c in cases]))))


#: Fewest lesions without rim or necrotic core that the edge law and its knob are set from
#: (else from all lesions).
MIN_PLAIN_LESIONS = 5


def plain_lesions(items: list, row_of=lambda item: item) -> list:
    """The items whose lesion has neither a rim nor a necrotic core (:mod:`synthtumor.realism.interior`),
    or all of them when fewer than :data:`MIN_PLAIN_LESIONS` are plain: a bright rim just inside
    the boundary widens the measured 10-90 % edge, which the rendered rim adds again."""
    plain = [item for item in items if is_plain(row_of(item))]
    return plain if len(plain) >= MIN_PLAIN_LESIONS else list(items)


def viable_std(row: dict[str, Any]) -> float:
    """The std (HU) of the lesion's viable tissue (middle band without calcified specks;
    :mod:`synthtumor.realism.interior`), else of the whole lesion (a lesion too small for a
    middle); NaN (left out) for a lesion too small for a middle that holds a speck, and for one
    more than :data:`~synthtumor.realism.calcification.MAX_CALCIFIED_FRACTION` calcified."""
    if is_calcified_mass(row):
        return math.nan
    value = row.get("viable_std_hu", math.nan)
    if math.isfinite(value):
        return value
    return math.nan if is_calcified(row) else row["std_hu"]


def viable_contrast(row: dict[str, Any]) -> float:
    """The contrast (HU) of the lesion's viable tissue: its contrast plus its viable offset
    (:mod:`synthtumor.realism.interior`; 0 where it has none: a lesion too small for one); NaN
    (left out) where a speck would raise that lesion's mean, and for a lesion more than
    :data:`~synthtumor.realism.calcification.MAX_CALCIFIED_FRACTION` calcified."""
    if is_calcified_mass(row):
        return math.nan
    offset = row.get("viable_offset_hu", math.nan)
    if math.isfinite(offset):
        return row["contrast_hu"] + offset
    return math.nan if is_calcified(row) else row["contrast_hu"]


def _viable_contrast(rows: list[dict[str, Any]]) -> Law:
    """The contrast law of the viable tissue (:func:`viable_contrast` of each lesion)."""
    values = [viable_contrast(r) for r in rows]
    if not any(math.isfinite(v) for v in values):  # every lesion calcified: their whole contrast
        return fit_signed([r["contrast_hu"] for r in rows], "contrast of the whole lesion against the 5 mm shell "
                          "(HU; every lesion calcified)")
    return fit_signed(values, "contrast of the viable tissue (middle band) against the 5 mm shell (HU)")


def max_rough(base: GeneratorConfig) -> float:
    """The largest ``rough`` knob (margin amplitude, mm) a fitted preset takes."""
    return _MAX_MARGIN_MM


def build_preset(base_raw: dict[str, Any], base: GeneratorConfig, laws: FittedLaws, knobs: Knobs,
                 phase_key: str, name: str) -> dict[str, Any]:
    """The preset mapping (YAML-ready) for ``knobs`` (see module docstring)."""
    out = copy.deepcopy(base_raw)
    for key in ("counts", "size_jitter", "axis_jitter", "blend", "description"):
        out.pop(key, None)
    out["name"] = name
    out["size_law"] = scale_law(laws.size, knobs.size).to_dict()
    out["count_law"] = laws.count.to_dict()
    out["elongation"] = {"long": power_law(laws.long, knobs.elongation, _MAX_RATIO).to_dict(),
                         "flat": power_law(laws.flat, knobs.elongation, _MAX_RATIO).to_dict()}
    rough = min(max(knobs.rough, 0.0), _MAX_MARGIN_MM)
    out["margin_mm"] = [float(f"{0.5 * rough:.4g}"), float(f"{1.5 * rough:.4g}")]
    out["margin_scale_mm"] = [float(f"{laws.margin_scale_mm:.4g}"), float(f"{2 * laws.margin_scale_mm:.4g}")]
    out["single_component"] = True  # each lesion measures as one lesion, as the annotated ones did
    nodules = dict(base_raw.get("nodules") or {"count": [1, 4], "offset": [0.7, 1.2], "scale": [0.4, 0.7]})
    nodules["prob"] = float(f"{knobs.nodule_prob:.4g}")
    out["nodules"] = nodules
    if laws.edge is not None:
        out["edge_width_mm"] = scale_law(laws.edge, knobs.edge).to_dict()
    law = base.law_for(phase_key)
    appearance = copy.deepcopy((base_raw.get("appearance") or {}).get(phase_key)
                               or base_raw["appearance"].get("default") or {})
    appearance.pop("target_hu", None)  # the data give the contrast
    appearance.setdefault("patterns", dict(law.patterns))
    appearance.update(laws.patterns.appearance_keys())
    appearance.update(laws.calcification.appearance_keys())
    if laws.calcification.hu is not None:  # a speck can fall where nothing is drawn, or read too dim
        appearance["calcification_prob"] = float(f"{min(1.0, laws.calcification.prob * knobs.calcification):.4g}")
    if laws.patterns.patterns is not None and laws.patterns.necrosis_by_size is None:
        appearance.pop("necrosis_by_size", None)  # fitted patterns without a size law replace the base's
    if laws.patterns.rim_hu is not None:
        appearance["rim_hu"] = scale_law(laws.patterns.rim_hu, knobs.rim).to_dict()
    if laws.patterns.rim_width_mm is not None:
        appearance["rim_width_mm"] = scale_law(laws.patterns.rim_width_mm, knobs.rim_width).to_dict()
    if laws.patterns.necrosis_hu is not None:
        appearance["necrosis_hu"] = shift_law(laws.patterns.necrosis_hu, knobs.necrosis).to_dict()
    appearance["contrast_hu"] = shift_law(laws.contrast, knobs.contrast).to_dict()
    appearance["texture"] = scale_law(laws.texture, knobs.texture).to_dict()
    appearance["texture_size_exponent"] = laws.texture_exponent
    appearance["texture_ref_radius_mm"] = laws.texture_ref_radius_mm
    out.setdefault("appearance", {})[phase_key] = appearance
    placement = dict(base_raw.get("placement") or {})
    placement.update({k: float(f"{v:.4g}") for k, v in laws.placement.items()})
    placement["on_no_room"] = "skip"  # shrinking a lesion that finds no room would bend the fitted size law
    out["placement"] = placement
    for key in ("size_law", "edge_width_mm"):
        _clamp_clip_range(out, key, GeneratorConfig)
    for key in ("contrast_hu", "texture", "rim_hu", "rim_width_mm", "necrosis_hu", "necrosis_fraction",
                "calcification_hu"):
        _clamp_clip_range(appearance, key, AppearanceLaw)
    return out


def _clamp_clip_range(mapping: dict[str, Any], key: str, config_class: type) -> None:
    """Bring a fitted law's clip range (``low``, ``high``) inside what the config field allows
    (its :func:`~synthtumor.config_rules.bounded` range), in place: a law scaled by a knob near its
    limit (texture x 20 of data already 3 noise sigmas wide, say) would otherwise be refused when
    the preset is read, in the middle of a calibration."""
    law = mapping.get(key)
    if not isinstance(law, dict) or "kind" not in law:
        return
    lo, hi = next(f.metadata["bounds"] for f in dataclasses.fields(config_class) if f.name == key)
    for side in ("low", "high"):
        if law.get(side) is not None:
            value = law[side] if lo is None else max(law[side], lo)
            law[side] = value if hi is None else min(value, hi)


def with_knob(knobs: Knobs, **changes: float) -> Knobs:
    """A copy with some knobs changed."""
    return replace(knobs, **changes)
