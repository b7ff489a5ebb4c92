"""Heuristic generator presets: YAML in ``configs/generators/``, validated dataclasses here.

Every random parameter is a law written as ``[a, b]`` (uniform ``U(a, b)``; for counts the
integers ``U{a..b}``), a law mapping (``{kind: lognormal, median: ..}``, see
:mod:`synthtumor.generators.laws`; what ``synthtumor fit-preset`` writes) or, for categorical
choices, a mapping of weights. ``size_law`` (equivalent radius, mm) with ``count_law`` (lesions
per call) replaces the size classes and ``counts``; ``elongation`` and ``nodules`` shape the
lesion (:mod:`synthtumor.generators.shape_laws`); ``provenance`` records what a fitted preset
was fitted on. Overrides passed to
:meth:`GeneratorConfig.from_preset` are deep-merged into the YAML before validation, e.g.
``from_preset("liver_metastasis", placement={"vessel_clearance_mm": 4})``; the mappings
``counts``, ``patterns`` and ``blend`` are replaced whole (``counts={"small": [1, 1]}`` means one
small lesion and nothing else), and ``size_classes_mm`` completes the defaults
(tiny 4, small 8, medium 16, large 32 mm).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from synthtumor.config_paths import config_dir
from synthtumor.config_rules import ConfigError, bounded, built, check_fields, number, span
from synthtumor.generators.laws import Law, law_or_range, parse_law
from synthtumor.generators.shape_laws import NoduleLaw, parse_elongation, parse_nodules
from synthtumor.lesions.placement import PlacementRules
from synthtumor.lesions.spec import PATTERNS, RIM_PROFILES, SIZE_CLASSES

__all__ = ["Range", "AppearanceLaw", "GeneratorConfig", "list_presets", "PHASE_KEYS", "MEMBER_KEYS"]

PHASE_KEYS = ("native", "arterial", "portal", "delayed", "default")
#: The keys a blend's lesions take from their member preset (the rest come from the blend).
MEMBER_KEYS = ("lobulation", "irregularity", "edge_width_mm", "margin_mm", "margin_scale_mm",
               "mass_effect_min_radius_mm", "mass_effect_strength", "appearance")


Range = tuple[float, float]


def _optional_law(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> Range | Law | None:
    """:func:`~synthtumor.generators.laws.law_or_range`, or None."""
    return None if value is None else law_or_range(value, name, lo, hi)


def _law_mapping(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> Law | None:
    """A law mapping (``kind: ...``) or a parsed :class:`Law`, or None; not a bare range."""
    if value is None or isinstance(value, Law):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a law mapping (kind: ...).")
    return parse_law(value, name, lo, hi)


def _elongation(value: Any, name: str, lo: None, hi: None) -> dict[str, Any]:
    """:func:`~synthtumor.generators.shape_laws.parse_elongation` as a field's kind."""
    return parse_elongation(value, name)


def _nodules(value: Any, name: str, lo: None, hi: None) -> NoduleLaw:
    """:func:`~synthtumor.generators.shape_laws.parse_nodules` as a field's kind."""
    return parse_nodules(value, name)


def _weights(value: Any, name: str, allowed: tuple[str, ...] | None = None) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{name} must be a non-empty mapping of weights.")
    out = {}
    for key, weight in value.items():
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{name}: unknown key {key!r}.", fix=f"use keys from {list(allowed)}.")
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"{name}.{key} must be a weight >= 0, got {weight!r}.")
        out[str(key)] = float(weight)
    if sum(out.values()) <= 0:
        raise ConfigError(f"{name}: the weights sum to 0.")
    return out


def _patterns(value: Any, name: str, lo: None, hi: None) -> dict[str, float]:
    return _weights(value, name, PATTERNS)


def _necrosis_by_size(value: Any, name: str, lo: None, hi: None) -> tuple[float, float, float] | None:
    """``{radius_mm, steepness, max_prob}`` (radius in (0, 200] mm, steepness in [0, 20], max_prob in
    [0, 1]) as a tuple in that order, or None."""
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 3:
        value = dict(zip(("radius_mm", "steepness", "max_prob"), value))
    if not isinstance(value, Mapping) or set(value) != {"radius_mm", "steepness", "max_prob"}:
        raise ConfigError(f"{name} must be a mapping with radius_mm, steepness and max_prob, got {value!r}.",
                          fix="e.g. {radius_mm: 15, steepness: 4, max_prob: 0.6}, or leave it out.")
    return (number(value["radius_mm"], f"{name}.radius_mm", 0.0, 200.0, low_open=True),
            number(value["steepness"], f"{name}.steepness", 0.0, 20.0),
            number(value["max_prob"], f"{name}.max_prob", 0.0, 1.0))


def _blend(value: Any, name: str, lo: None, hi: None) -> dict[str, float]:
    return _weights(value, name) if value else {}


def _size_classes(value: Any, name: str, lo: None, hi: None) -> dict[str, float]:
    sizes = _weights(value, name)
    if min(sizes.values()) <= 0:
        raise ConfigError(f"{name}: radii must be > 0 mm.")
    return sizes


def _counts(value: Any, name: str, classes: Mapping[str, float]) -> dict[str, tuple[int, int]]:
    """Lesions per size class, ``U{a..b}`` with whole ``0 <= a <= b <= 1000``; some lesion allowed."""
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(f"{name} must map size classes to counts [low, high], got {value!r}.")
    counts = {}
    for cls_name, law in (value or {}).items():
        if cls_name not in classes:
            raise ConfigError(f"{name}: unknown size class {cls_name!r}.", fix=f"use {sorted(classes)}.")
        a, b = span(law, f"{name}.{cls_name}", 0, 1000)
        if a != int(a) or b != int(b):
            raise ConfigError(f"{name}.{cls_name} must be whole numbers.")
        counts[cls_name] = (int(a), int(b))
    if not counts or max(b for _, b in counts.values()) < 1:
        raise ConfigError(f"{name} allows no lesion at all.", fix="give some class a count >= 1.")
    return counts


@dataclass(frozen=True)
class AppearanceLaw:
    """How lesions look in one phase (HU relative to the parenchyma median unless said).

    Attributes:
        patterns: weights of ``PATTERNS``.
        contrast_hu: ``U(a, b)`` viable-tissue contrast (HU); ignored when ``target_hu`` is set.
        target_hu: ``U(a, b)`` absolute HU of the lesion (cysts: water), or None.
        texture: ``U(a, b)`` internal texture amplitude as a multiple of the scan's noise sigma.
        texture_scale_mm: ``U(a, b)`` texture correlation length (mm).
        necrosis_fraction: ``U(a, b)`` necrotic fraction of the radius (necrotic_core).
        necrosis_hu: ``U(a, b)`` absolute HU of necrosis.
        rim_hu: ``U(a, b)`` extra HU of rim / capsule / nodules.
        rim_width_mm: ``U(a, b)`` rim or capsule thickness (mm).
        rim_profile: ``gaussian`` (the default) or ``band``: how the enhancing rim falls with
            depth (:class:`~synthtumor.lesions.spec.IntensitySpec`); fitted presets take ``band``.
        calcification_prob: probability that a lesion has calcifications (then ``U{1..3}``).
        calcification_hu: ``U(a, b)`` extra HU of a calcification speck.
        texture_size_exponent: size-aware heterogeneity: the texture amplitude is multiplied
            by ``(r_eq / texture_ref_radius_mm)^exponent`` (``r_eq`` the lesion's equivalent
            radius, mm); 0: the same law at every size.
        texture_ref_radius_mm: the radius (mm) at which the texture law holds as written.
        calcification_count: ``U{a..b}`` specks in a calcified lesion.
        calcification_depth: ``U(a, b)`` a speck's distance from the centre, as a fraction of
            the radius along a uniform direction (drawn when the lesion is rendered).
        calcification_sigma_mm: a speck's Gaussian sigma (mm).
        nodule_count: ``U{a..b}`` peripheral nodules (``peripheral_nodular``; drawn at render).
        nodule_sharpness: ``U(a, b)`` each nodule's angular sharpness ``k`` in ``exp(k (cos - 1))``.
        necrosis_edge_texture: how far the texture moves the necrotic core's edge (fraction of
            the radius per unit of texture).
        necrosis_edge_width: width of the core's soft edge (fraction of the radius).
        necrosis_texture: the core's texture amplitude relative to the viable tissue's.
        necrosis_by_size: size-aware necrosis, ``{radius_mm: R, steepness: k, max_prob: p}``: a
            lesion of equivalent radius ``r`` (mm) takes ``necrotic_core`` with probability
            ``p / (1 + (R / r)^k)`` and the other patterns share the rest in proportion to
            their weights (``necrotic_core``'s own weight is then unused); None: ``patterns``
            alone, at every size. ``synthtumor fit-preset`` fits it.

    Every ``U(a, b)`` above may instead be a law mapping (:mod:`synthtumor.generators.laws`).
    """

    patterns: dict[str, float] = bounded(kind=_patterns, default_factory=lambda: {"homogeneous": 1.0})
    contrast_hu: Range = bounded((-40.0, -20.0), -500, 500, law_or_range)
    target_hu: Range | None = bounded(None, -200, 500, _optional_law)
    texture: Range = bounded((0.5, 1.0), 0, 10, law_or_range)
    texture_scale_mm: Range = bounded((1.5, 3.0), 0.1, 50, law_or_range)
    necrosis_fraction: Range = bounded((0.3, 0.6), 0, 0.95, law_or_range)
    necrosis_hu: Range = bounded((10.0, 25.0), -200, 200, law_or_range)
    rim_hu: Range = bounded((0.0, 0.0), -300, 500, law_or_range)
    rim_width_mm: Range = bounded((1.5, 3.0), 0.1, 20, law_or_range)
    rim_profile: str = bounded("gaussian", kind="choice", options=RIM_PROFILES)
    calcification_prob: float = bounded(0.0, 0, 1)
    calcification_hu: Range = bounded((200.0, 600.0), 0, 2000, law_or_range)
    texture_size_exponent: float = bounded(0.0, -2.0, 2.0)
    texture_ref_radius_mm: float = bounded(10.0, 0.5, 200.0)
    calcification_count: Range = bounded((1.0, 3.0), 1, 20, "range")
    calcification_depth: Range = bounded((0.0, 0.7), 0, 1, "range")
    calcification_sigma_mm: float = bounded(0.8, 0.1, 10)
    nodule_count: Range = bounded((5.0, 9.0), 1, 50, "range")
    nodule_sharpness: Range = bounded((6.0, 14.0), 0.5, 100, "range")
    necrosis_edge_texture: float = bounded(0.08, 0, 1)
    necrosis_edge_width: float = bounded(0.06, 0.005, 0.5)
    necrosis_texture: float = bounded(0.3, 0, 2)
    necrosis_by_size: tuple[float, float, float] | None = bounded(None, kind=_necrosis_by_size)

    def pattern_weights(self, radius_mm: float | None) -> dict[str, float]:
        """The pattern weights for a lesion of equivalent radius ``radius_mm`` (mm; see
        ``necrosis_by_size``)."""
        if self.necrosis_by_size is None or not radius_mm:
            return self.patterns
        size, steepness, top = self.necrosis_by_size
        p = top / (1.0 + (size / radius_mm) ** steepness)
        others = {k: w for k, w in self.patterns.items() if k != "necrotic_core"}
        total = sum(others.values())
        if total <= 0:
            return {"necrotic_core": 1.0}
        return {**{k: (1.0 - p) * w / total for k, w in others.items()}, "necrotic_core": p}

    def __post_init__(self) -> None:
        """Every range is checked here, however the law is built (:func:`bounded` fields)."""
        check_fields(self, "AppearanceLaw")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> AppearanceLaw:
        """Validate one phase's appearance mapping."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}.", fix=f"use {sorted(known)}.")
        kw = {k: v for k, v in data.items() if v is not None or k == "target_hu"}
        return built(cls, where, **kw)


@dataclass(frozen=True)
class GeneratorConfig:
    """A heuristic generator preset (see configs/generators/*.yaml for documented examples).

    Attributes:
        name: preset name.
        organ: the organ it is meant for (informative; the case's organ mask is used).
        size_classes_mm: base radius per size class (mm).
        size_jitter: the base radius is multiplied by ``U(a, b)``.
        axis_jitter: each semi-axis is then multiplied by ``U(a, b)``.
        counts: lesions per size class, ``U{a..b}``; at least one lesion per call in total.
        lobulation: ``U(a, b)`` surface lobe amplitude (fraction of the radius).
        irregularity: ``U(a, b)`` smooth surface perturbation amplitude (fraction).
        edge_width_mm: ``U(a, b)`` 10-90 % edge width before voxel partial volume (mm).
        margin_mm: ``U(a, b)`` infiltrative-margin amplitude (mm; see ``TumorSpec.margin_mm``).
        margin_scale_mm: ``U(a, b)`` its correlation length (mm).
        single_component: each lesion's mask is its largest 26-connected part
            (``TumorSpec.single_component``); fitted presets set it, shipped presets keep the
            islands (their pinned renders).
        mass_effect_min_radius_mm: lesions with equivalent radius at or above this push
            their surroundings (mm).
        mass_effect_strength: ``U(a, b)`` push amplitude (fraction of the radius, < 1).
        placement: placement rules.
        appearance: per phase (``native``, ``arterial``, ``portal``, ``delayed``, ``default``).
        blend: for a mixed preset: weights of other presets; each lesion draws its preset.
        size_law: the equivalent radius (mm) of each lesion, a law (replaces ``counts`` and
            the size classes, which then only name the lesion: the class of nearest radius).
        count_law: lesions per call (rounded, at least 1); required with ``size_law``.
        elongation: ``{long, flat}`` axis-ratio laws (replaces ``axis_jitter``), or empty.
        nodules: sub-nodule laws (multi-nodular lesions).
        provenance: what a fitted preset was fitted on (dataset, lesions, parameters).
        member_overrides: for a blend: the overrides of :data:`MEMBER_KEYS` given to
            :meth:`from_preset`, which every member preset takes too (a blend's lesions take
            those laws from their member, so they would otherwise be dropped).
    """

    name: str
    organ: str = "liver"
    description: str = ""
    size_classes_mm: dict[str, float] = bounded(kind=_size_classes, default_factory=lambda: dict(SIZE_CLASSES))
    size_jitter: Range = bounded((0.75, 1.25), 0.1, 10, "range")
    axis_jitter: Range = bounded((0.85, 1.15), 0.1, 10, "range")
    counts: dict[str, tuple[int, int]] = field(default_factory=lambda: {"small": (1, 1)})
    lobulation: Range = bounded((0.0, 0.2), 0, 0.5, law_or_range)
    irregularity: Range = bounded((0.02, 0.08), 0, 0.35, law_or_range)
    edge_width_mm: Range = bounded((1.0, 2.5), 0, 20, law_or_range)
    margin_mm: Range = bounded((0.0, 0.0), 0, 10, law_or_range)
    margin_scale_mm: Range = bounded((2.0, 2.0), 0.3, 20, "range")
    single_component: bool = bounded(False, kind="bool")
    mass_effect_min_radius_mm: float = bounded(15.0, 0.0, 500.0)
    mass_effect_strength: Range = bounded((0.0, 0.0), 0, 0.6, "range")
    placement: PlacementRules = field(default_factory=PlacementRules)
    appearance: dict[str, AppearanceLaw] = field(default_factory=dict)
    blend: dict[str, float] = bounded(kind=_blend, default_factory=dict)
    size_law: Law | None = bounded(None, 0.5, 150.0, _law_mapping)
    count_law: Law | None = bounded(None, 1, 100, _law_mapping)
    elongation: dict[str, Any] = bounded(kind=_elongation, default_factory=dict)
    nodules: NoduleLaw = bounded(kind=_nodules, default_factory=NoduleLaw)
    provenance: dict[str, Any] = field(default_factory=dict)
    member_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every range is checked here, however the preset is built (:func:`bounded` fields),
        and the appearance and blend must say how lesions look."""
        check_fields(self, self.name)
        object.__setattr__(self, "counts", _counts(self.counts, f"{self.name}.counts", self.size_classes_mm))
        if not isinstance(self.placement, PlacementRules):
            raise ConfigError(f"{self.name}.placement must be PlacementRules, got {type(self.placement).__name__}.")
        if not all(isinstance(law, AppearanceLaw) for law in self.appearance.values()):
            raise ConfigError(f"{self.name}.appearance must map phases to AppearanceLaw.")
        if not self.appearance and not self.blend:
            raise ConfigError(f"preset {self.name!r} gives neither an appearance nor a blend of presets.")
        if self.appearance and "default" not in self.appearance:
            raise ConfigError(f"{self.name}.appearance needs a 'default' entry for unlisted phases.")
        if (self.size_law is None) != (self.count_law is None):
            raise ConfigError(f"{self.name}: size_law and count_law go together.", fix="give both, or neither.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorConfig:
        """Validate a preset mapping (the YAML's content).

        Raises:
            ConfigError: unknown keys or out-of-range values, naming the key and the fix.
        """
        data = dict(data)
        name = str(data.pop("name", "custom"))
        known = set(cls.__dataclass_fields__) - {"name", "member_overrides"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"preset {name!r}: unknown keys {unknown}.", fix=f"use {sorted(known)}.")
        kw: dict[str, Any] = {"name": name}
        for key in ("organ", "description"):
            if key in data:
                kw[key] = str(data[key])
        if isinstance(data.get("size_classes_mm"), Mapping):  # completes the defaults
            kw["size_classes_mm"] = {**SIZE_CLASSES, **data["size_classes_mm"]}
        elif "size_classes_mm" in data:
            kw["size_classes_mm"] = data["size_classes_mm"]
        # every value below is checked against its field's bounds when the preset is built
        for key in ("size_jitter", "axis_jitter", "lobulation", "irregularity", "edge_width_mm", "counts",
                    "mass_effect_strength", "margin_mm", "margin_scale_mm", "mass_effect_min_radius_mm",
                    "single_component"):
            if key in data:
                kw[key] = data[key]
        for key in ("size_law", "count_law"):
            if data.get(key) is not None:
                kw[key] = data[key]
        for key in ("blend", "elongation", "nodules"):
            if data.get(key):
                kw[key] = data[key]
        if data.get("provenance"):
            if not isinstance(data["provenance"], Mapping):
                raise ConfigError(f"{name}.provenance must be a mapping.")
            kw["provenance"] = dict(data["provenance"])
        if "placement" in data:
            placement = dict(data["placement"] or {})
            unknown = sorted(set(placement) - set(PlacementRules.__dataclass_fields__))
            if unknown:
                raise ConfigError(f"{name}.placement: unknown keys {unknown}.")
            kw["placement"] = built(PlacementRules, f"{name}.placement", **placement)
        appearance = {}
        for phase, law in (data.get("appearance") or {}).items():
            if phase not in PHASE_KEYS:
                raise ConfigError(f"{name}.appearance: unknown phase {phase!r}.", fix=f"use {list(PHASE_KEYS)}.")
            appearance[phase] = AppearanceLaw.from_dict(law or {}, f"{name}.appearance.{phase}")
        kw["appearance"] = appearance
        return cls(**kw)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> GeneratorConfig:
        """Load ``configs/generators/<name>.yaml`` (or a YAML path) with deep-merged overrides.

        Raises:
            ConfigError: unknown preset or invalid values.
        """
        raw = load_preset_dict(name)
        if not (overrides.get("blend") or raw.get("blend")):
            return cls.from_dict(_deep_merge(raw, overrides))
        # a blend: its lesions take shape and appearance from their member preset, so those
        # overrides go to every member (checked here, when the blend is built)
        members = {k: v for k, v in overrides.items() if k in MEMBER_KEYS}
        own = {k: v for k, v in overrides.items() if k != "appearance"}
        config = cls.from_dict(_deep_merge(raw, own))
        for member in config.blend:
            cls.from_preset(member, **members)
        return dataclasses.replace(config, member_overrides=copy.deepcopy(members))

    def law_for(self, phase: str) -> AppearanceLaw:
        """The appearance law of ``phase`` (or the default one)."""
        return self.appearance.get(phase, self.appearance["default"])


def list_presets() -> list[str]:
    """Names of the presets in ``configs/generators/``."""
    return sorted(p.stem for p in config_dir("generators").glob("*.yaml"))


def load_preset_dict(name: str) -> dict[str, Any]:
    """The raw mapping of a preset name or YAML path."""
    path = Path(name)
    if not (name.endswith((".yaml", ".yml")) and path.is_file()):
        path = config_dir("generators") / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown generator preset {name!r}.", fix=f"use one of {list_presets()} or a YAML path.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:  # a binary file too: one line, not a traceback
        raise ConfigError(f"preset {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"preset {path} must hold a mapping.")
    data.setdefault("name", path.stem)
    return data


_REPLACED_WHOLE = ("counts", "patterns", "blend", "size_law", "count_law")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key not in _REPLACED_WHOLE:
            out[key] = _deep_merge(out[key], value)
        elif isinstance(out.get(key), dict) and key not in _REPLACED_WHOLE and not isinstance(value, Mapping):
            example = f"{key}.{next(iter(out[key]), 'key')}"
            raise ConfigError(f"{key!r} is a section of the preset ({', '.join(sorted(out[key]))}), not a value; "
                              f"got {value!r}.", fix=f"set one of its keys, e.g. --set {example}=...")
        else:
            out[key] = copy.deepcopy(value)
    return out
