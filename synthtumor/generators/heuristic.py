"""The heuristic generator: analytic shapes and textures, vessel-aware placement, mass effect.

Sampling laws (one call; all draws from the ``rng`` passed in, in a fixed order):

* per size class, largest first: ``n ~ U{a..b}`` lesions (``counts``); if every class drew 0, one
  lesion of the class with the largest upper bound; or, with ``size_law``, ``n ~ count_law``
  (rounded, at least 1) lesions of equivalent radius ``r_eq ~ size_law`` (mm) each, largest
  first, named by the size class of nearest radius (in log);
* per lesion: the preset (``blend`` weights, for ``mixed``); base radius
  ``r0 = size_classes_mm[class] * U(size_jitter)`` (or ``r_eq``); semi-axes ``r0 * U(axis_jitter)``
  each, or from the ``elongation`` ratios (:mod:`~synthtumor.generators.shape_laws`);
  orientation uniform on SO(3) (a normalised Gaussian quaternion); ``lobulation``,
  ``irregularity`` and ``edge_width_mm`` from their ``U(a, b)``; subcapsular with probability
  ``subcapsular_prob``; mass effect ``U(mass_effect_strength)`` when the equivalent radius is
  at least ``mass_effect_min_radius_mm``, else 0; shape and texture seeds ``U{0..2^31-2}``;
  sub-nodules from ``nodules`` (drawn only when its ``prob`` > 0); infiltrative margin
  ``U(margin_mm)`` with correlation length ``U(margin_scale_mm)`` (no draw while a law is a
  single value, as by default: 0 mm, 2 mm);
* appearance in the case's phase: pattern by weight; contrast ``U(contrast_hu)`` or
  ``U(target_hu) - parenchyma median``; texture amplitude ``U(texture) * noise sigma``, times
  ``(r_eq / texture_ref_radius_mm)^texture_size_exponent``; the rest
  as :class:`~synthtumor.generators.config.AppearanceLaw` says;
* a centre from :func:`~synthtumor.lesions.placement.draw_centre`; with no room (for a lesion
  that may wrap vessels, none with the smallest vessel reach either:
  :func:`~synthtumor.lesions.placement.wrapping_fallback`), the ``on_no_room`` policy:
  ``shrink`` (radii x 0.8 until ``min_radius_mm``, then an error),
  ``skip`` (the lesion is left out), or ``error``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthtumor.anatomy import Prepared
from synthtumor.generators.base import LesionGenerator, NoRoomError
from synthtumor.generators.config import AppearanceLaw, GeneratorConfig
from synthtumor.generators.laws import draw_value
from synthtumor.generators.shape_laws import draw_nodules, elongated_axes
from synthtumor.lesions.mass_effect import ZONE_FACTOR
from synthtumor.lesions.placement import PlacedLesion, draw_centre, prior_weights, wrapping_fallback
from synthtumor.lesions.render import RenderResult, render_lesions
from synthtumor.lesions.shape import sequential_sum
from synthtumor.lesions.spec import IntensitySpec, TumorSpec, lesion_extent_mm

__all__ = ["HeuristicGenerator", "random_rotation", "draw_intensity"]

_SHRINK = 0.8
_MAX_SEED = 2**31 - 1


def _rotation_rows(rng: np.random.Generator) -> tuple[tuple[float, float, float], ...]:
    """:func:`random_rotation` as rows of Python floats (the arithmetic of 3 x 3 numbers is
    several times faster on floats than on numpy scalars; the values are the same)."""
    w, x, y, z = rng.standard_normal(4).tolist()
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return (
        (1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
        (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
        (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)),
    )


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix uniform on SO(3) (from a normalised Gaussian quaternion)."""
    return np.array(_rotation_rows(rng))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """A key drawn with probability proportional to its weight (one uniform draw)."""
    names = list(weights)
    u = rng.random() * sequential_sum(weights.values())
    for name in names:
        u -= weights[name]
        if u < 0:
            return name
    return next(name for name in reversed(names) if weights[name] > 0)  # u hit the total


def draw_intensity(law: AppearanceLaw, rng: np.random.Generator, noise_sigma_hu: float, median_hu: float,
                   radius_mm: float | None = None) -> IntensitySpec:
    """Draw one lesion's appearance from a phase's law (always the same number of draws);
    ``radius_mm`` (the equivalent radius) scales the texture when the law is size-aware."""
    pattern = _pick(rng, law.pattern_weights(radius_mm))
    contrast = draw_value(rng, law.contrast_hu)
    target = draw_value(rng, law.target_hu) if law.target_hu is not None else None
    texture = draw_value(rng, law.texture) * noise_sigma_hu
    if law.texture_size_exponent and radius_mm:
        texture *= (radius_mm / law.texture_ref_radius_mm) ** law.texture_size_exponent
    has_calcification = rng.random() < law.calcification_prob
    n_calc = int(rng.integers(int(law.calcification_count[0]), int(law.calcification_count[1]) + 1))
    return IntensitySpec(
        pattern=pattern,
        contrast_hu=target - median_hu if target is not None else contrast,
        texture_hu=texture,
        texture_scale_mm=draw_value(rng, law.texture_scale_mm),
        necrosis_fraction=draw_value(rng, law.necrosis_fraction) if pattern == "necrotic_core" else 0.0,
        necrosis_hu=draw_value(rng, law.necrosis_hu),
        rim_hu=draw_value(rng, law.rim_hu),
        rim_width_mm=draw_value(rng, law.rim_width_mm),
        rim_profile=law.rim_profile,
        calcifications=n_calc if has_calcification else 0,
        calcification_hu=draw_value(rng, law.calcification_hu),
        # the laws drawn at render time, and the renderer's constants, travel with the spec
        calcification_depth=law.calcification_depth,
        calcification_sigma_mm=law.calcification_sigma_mm,
        nodule_count=(int(law.nodule_count[0]), int(law.nodule_count[1])),
        nodule_sharpness=law.nodule_sharpness,
        necrosis_edge_texture=law.necrosis_edge_texture,
        necrosis_edge_width=law.necrosis_edge_width,
        necrosis_texture=law.necrosis_texture,
    )


class HeuristicGenerator(LesionGenerator):
    """Lesions from a preset (see module docstring for every sampling law).

    Args:
        config: the preset.
        block_mm: placement block size (mm).
    """

    name = "heuristic"

    def __init__(self, config: GeneratorConfig, block_mm: float = 2.0) -> None:
        super().__init__(block_mm=block_mm)
        self.config = config
        # a blend's members take the overrides of the keys its lesions read from them
        self.members = {name: GeneratorConfig.from_preset(name, **config.member_overrides)
                        for name in config.blend}

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> HeuristicGenerator:
        """``HeuristicGenerator.from_preset("liver_metastasis", placement={...})``."""
        return cls(GeneratorConfig.from_preset(name, **overrides))

    def _plan(self, rng: np.random.Generator) -> list[tuple[str, float | None]]:
        """Per lesion, its size class and, with a ``size_law``, its equivalent radius (mm)."""
        cfg = self.config
        if cfg.size_law is None:
            return [(c, None) for c, n in self._counts(rng) for _ in range(n)]
        n = max(1, int(round(draw_value(rng, cfg.count_law))))
        radii = sorted((draw_value(rng, cfg.size_law) for _ in range(n)), reverse=True)
        names = list(cfg.size_classes_mm)
        return [(min(names, key=lambda c: abs(math.log(r / cfg.size_classes_mm[c]))), r) for r in radii]

    def _counts(self, rng: np.random.Generator) -> list[tuple[str, int]]:
        cfg = self.config
        order = sorted(cfg.counts, key=lambda c: -cfg.size_classes_mm[c])
        counts = [(c, int(rng.integers(cfg.counts[c][0], cfg.counts[c][1] + 1))) for c in order]
        if sum(n for _, n in counts) == 0:
            widest = max(order, key=lambda c: cfg.counts[c][1])
            counts = [(c, 1 if c == widest else 0) for c, _ in counts]
        return counts

    def _member(self, rng: np.random.Generator) -> GeneratorConfig:
        if not self.config.blend:
            return self.config
        return self.members[_pick(rng, self.config.blend)]

    def sample(self, prepared: Prepared, rng: np.random.Generator) -> list[TumorSpec]:
        """Draw lesions for one output case (see module docstring).

        Raises:
            NoRoomError: a lesion finds no valid place and the policy is ``error`` (or
                ``shrink`` reached the minimum radius).
        """
        cfg = self.config
        rules = cfg.placement
        wrapping = wrapping_fallback(rules)
        weights = prior_weights(prepared, rules.location_prior)
        phase = prepared.case.phase.value
        placed: list[PlacedLesion] = []
        specs: list[TumorSpec] = []
        for size_class, r_eq in self._plan(rng):
            member = self._member(rng)
            base = cfg.size_classes_mm[size_class] * draw_value(rng, cfg.size_jitter) if r_eq is None else r_eq
            if cfg.elongation:
                radii = elongated_axes(rng, base, cfg.elongation)
            else:
                radii = base * rng.uniform(cfg.axis_jitter[0], cfg.axis_jitter[1], 3)
            rotation = _rotation_rows(rng)
            lobulation = draw_value(rng, member.lobulation)
            irregularity = draw_value(rng, member.irregularity)
            edge = draw_value(rng, member.edge_width_mm)
            subcapsular = bool(rng.random() < rules.subcapsular_prob)
            strength = draw_value(rng, member.mass_effect_strength)
            seeds = (rng.random(2) * _MAX_SEED).astype(np.int64)  # U{0..2^31-2}, one cheap draw
            radii, nodules = draw_nodules(rng, radii, cfg.nodules)
            shaper = member if member.margin_mm != (0.0, 0.0) else cfg  # a blend's own margin law
            margin = draw_value(rng, shaper.margin_mm)  # no draw while the law is [0, 0]
            margin_scale = draw_value(rng, shaper.margin_scale_mm)
            intensity = draw_intensity(member.law_for(phase), rng, prepared.noise_sigma_hu,
                                       prepared.parenchyma_median_hu, float(np.prod(radii)) ** (1 / 3))
            centre = None
            while True:
                r0, r1, r2 = radii.tolist()
                eq_radius = (r0 * r1 * r2) ** (1 / 3)
                mass = strength if eq_radius >= member.mass_effect_min_radius_mm else 0.0
                extent = lesion_extent_mm((r0, r1, r2), lobulation + irregularity, nodules, margin)
                zone = ZONE_FACTOR * extent if mass > 0 else 0.0
                centre = draw_centre(prepared, extent, zone, subcapsular, rules, placed, rng, weights)
                if centre is None and wrapping is not None:
                    centre = draw_centre(prepared, extent, zone, subcapsular, wrapping, placed, rng, weights)
                if centre is not None or rules.on_no_room != "shrink" or radii.min() * _SHRINK < rules.min_radius_mm:
                    break
                radii = radii * _SHRINK
            if centre is None:
                if rules.on_no_room == "skip":
                    continue
                raise NoRoomError(
                    f"no room for a {size_class} lesion (radius {radii.max():.1f} mm, vessel "
                    f"clearance {rules.vessel_clearance_mm} mm, boundary margin "
                    f"{rules.boundary_margin_mm} mm) in an organ of {prepared.case.volume_ml(prepared.organ):.0f} mL.",
                    case=prepared.case.case_id,
                    fix="use smaller size classes or counts, lower the clearance or margin, "
                    "or set placement.on_no_room to skip.",
                )
            placed.append(PlacedLesion(centre, extent, zone))
            specs.append(TumorSpec(
                centre_mm=tuple(centre), radii_mm=tuple(radii), rotation=rotation,
                size_class=size_class, shape_seed=int(seeds[0]), texture_seed=int(seeds[1]),
                lobulation=lobulation, irregularity=irregularity, edge_width_mm=edge,
                mass_effect=mass, subcapsular=subcapsular, intensity=intensity,
                preset=member.name, vessel_clearance_mm=rules.vessel_clearance_mm, nodules=nodules,
                margin_mm=margin, margin_scale_mm=margin_scale, wraps_vessels=rules.vessel_reach < 1,
                single_component=member.single_component or cfg.single_component,
            ))
        return specs

    def render_result(self, prepared: Prepared, specs: list[TumorSpec], *, inplace: bool = False) -> RenderResult:
        """Draw ``specs`` (pure unless ``inplace``; see :func:`synthtumor.lesions.render.render_lesions`)."""
        return render_lesions(prepared, specs, inplace=inplace)
