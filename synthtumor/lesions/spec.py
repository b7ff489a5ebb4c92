"""`TumorSpec`: everything needed to draw one lesion again, as a small JSON-able record.

Sampling draws specs from a ``numpy.random.Generator``; rendering is a pure function of the
prepared case and the specs. A manifest line holds a case's specs, so any output can be
replayed or edited lesion by lesion.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from synthtumor.config_rules import ConfigError, bounded, built, check_fields

__all__ = ["TumorSpec", "IntensitySpec", "PATTERNS", "SIZE_CLASSES", "specs_to_json", "specs_from_json",
           "lesion_extent_mm", "nodule_spec", "MARGIN_CLIP", "MARGIN_OUTWARD"]

#: Internal patterns a lesion can have.
PATTERNS = ("homogeneous", "necrotic_core", "enhancing_rim", "capsule", "peripheral_nodular")
#: How an enhancing rim falls with depth (:class:`IntensitySpec`).
RIM_PROFILES = ("gaussian", "band")
#: Size classes and their default base radius (mm), after SyntheticTumors.
SIZE_CLASSES = {"tiny": 4.0, "small": 8.0, "medium": 16.0, "large": 32.0}


@dataclass(frozen=True)
class IntensitySpec:
    """How a lesion's inside looks, in HU relative to the scan's parenchyma.

    Attributes:
        pattern: one of ``PATTERNS``.
        contrast_hu: mean HU of the viable lesion minus the parenchyma median (negative: hypo).
        texture_hu: amplitude (std, HU) of the internal band-limited texture.
        texture_scale_mm: correlation length of that texture (Gaussian sigma, mm).
        necrosis_fraction: fraction of the radius (from the centre) that is necrotic (0..1).
        necrosis_hu: absolute HU of the necrotic core (fluid, ~10-25 HU).
        rim_hu: extra HU of the enhancing rim / capsule / peripheral nodules.
        rim_width_mm: thickness of the rim or capsule (mm).
        rim_profile: how an enhancing rim (also a necrotic lesion's) falls with depth ``d`` below
            the surface: ``gaussian``, ``exp(-d^2 / (2 w^2))`` (``d`` below the drawn shape's
            surface); ``band``, a plateau to ``w`` with a 0.5 mm soft inner edge,
            ``0.5 erfc((d - w) / (0.5 sqrt 2))`` (``d`` the Euclidean depth in the rendered mask,
            cut faces included).
        calcifications: number of calcification specks.
        calcification_hu: extra HU of a speck.
        calcification_depth, nodule_count, nodule_sharpness: the laws the renderer draws the
            specks' places and the peripheral nodules from (``U(a, b)``, ``U{a..b}``), with the
            lesion's texture seed; copied from the preset's appearance law.
        calcification_sigma_mm, necrosis_edge_texture, necrosis_edge_width, necrosis_texture:
            the renderer's constants, from the preset (see
            :class:`~synthtumor.generators.config.AppearanceLaw`).
    """

    pattern: str = bounded("homogeneous", kind="choice", options=PATTERNS)
    contrast_hu: float = -40.0
    texture_hu: float = bounded(5.0, 0)
    texture_scale_mm: float = bounded(2.0, 0, low_open=True)
    necrosis_fraction: float = bounded(0.0, 0, 1, high_open=True)
    necrosis_hu: float = 15.0
    rim_hu: float = 0.0
    rim_width_mm: float = bounded(2.0, 0, low_open=True)
    rim_profile: str = bounded("gaussian", kind="choice", options=RIM_PROFILES)
    calcifications: int = 0
    calcification_hu: float = 400.0
    calcification_depth: tuple[float, float] = bounded((0.0, 0.7), kind="numbers", length=2)  # JSON gives lists
    calcification_sigma_mm: float = 0.8
    nodule_count: tuple[int, int] = bounded((5, 9), kind="ints", length=2)
    nodule_sharpness: tuple[float, float] = bounded((6.0, 14.0), kind="numbers", length=2)
    necrosis_edge_texture: float = 0.08
    necrosis_edge_width: float = 0.06
    necrosis_texture: float = 0.3

    def __post_init__(self) -> None:
        check_fields(self, "lesion.intensity")


def _rotation(value: Any, name: str, lo: None, hi: None) -> tuple[tuple[float, float, float], ...]:
    """A 3 x 3 orthonormal matrix (rows), to 1e-5 (so 6-decimal manifests pass), as float tuples."""
    try:  # plain Python: a 3 x 3 check costs a few microseconds this way, tens through numpy
        rot = tuple(tuple(float(v) for v in row) for row in value)
    except (TypeError, ValueError):
        rot = ()
    orthonormal = len(rot) == 3 and all(len(row) == 3 for row in rot) and all(
        abs(sum(a * b for a, b in zip(rot[i], rot[j])) - (i == j)) <= 1e-5
        for i in range(3) for j in range(i, 3)
    )
    if not orthonormal:
        raise ConfigError(f"{name} must be a 3 x 3 orthonormal matrix.")
    return rot


def _intensity(value: Any, name: str, lo: None, hi: None) -> IntensitySpec:
    """An :class:`IntensitySpec`, or the mapping of one (a manifest's)."""
    if isinstance(value, IntensitySpec):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of IntensitySpec fields, got {value!r}.")
    return built(IntensitySpec, name, **value)


def _nodules(value: Any, name: str, lo: None, hi: None) -> tuple[tuple[float, float, float, float], ...]:
    """Sub-nodules ``(qx, qy, qz, s)`` with ``0 < s <= 1`` and ``|q| <= 1.5``, as float tuples."""
    try:
        nodules = tuple(tuple(float(v) for v in n) for n in value)
    except (TypeError, ValueError):
        nodules = ((math.nan,),)
    for n in nodules:
        if len(n) != 4 or not 0.0 < n[3] <= 1.0 or not math.sqrt(n[0] ** 2 + n[1] ** 2 + n[2] ** 2) <= 1.5:
            raise ConfigError(f"{name}: a sub-nodule must be (qx, qy, qz, s) with 0 < s <= 1 and |q| <= 1.5, got {n}.")
    return nodules


@dataclass(frozen=True)
class TumorSpec:
    """One lesion (all lengths in mm, world RAS+ coordinates).

    Attributes:
        centre_mm: centre in world RAS+ (mm).
        radii_mm: the three semi-axes of the base ellipsoid (mm), before surface perturbation.
        rotation: 3 x 3 rotation matrix (rows) from lesion axes to world axes, as nested lists.
        size_class: the size class the lesion was drawn in, a name of the preset's
            ``size_classes_mm`` (by default ``tiny``, ``small``, ``medium``, ``large``); with a
            ``size_law``, the class of nearest radius (in log). It names the class drawn, not the
            size placed: the no-room policy ``shrink`` keeps the name while it shrinks
            ``radii_mm``. Not checked (an edited manifest may hold any name); the diffusion
            generator conditions on it when it is one of ``SIZE_CLASSES``, else on the class of
            the equivalent radius.
        shape_seed: seed of the surface perturbation.
        texture_seed: seed of the internal texture.
        lobulation: amplitude of the surface lobes (fraction of the radius).
        irregularity: amplitude of the smooth random surface perturbation (fraction).
        edge_width_mm: 10-90 % width of the boundary transition before voxel partial volume.
        mass_effect: displacement amplitude (fraction of the radius) of the surrounding tissue;
            0 for none.
        subcapsular: whether the lesion may reach the organ capsule.
        vessel_clearance_mm: minimum distance from lesion voxels to vessel voxels (mm).
        intensity: how the inside looks.
        preset: the preset that drew it (for the record).
        nodules: sub-nodules of a multi-nodular (lobulated, confluent) lesion, each
            ``(qx, qy, qz, s)``: an ellipsoid with the same rotation, radii ``s * radii_mm``
            (``0 < s <= 1``) and centre at lesion-axis offset ``(qx r0, qy r1, qz r2)`` mm from
            ``centre_mm`` (``|q| <= 1.5``); the lesion is the union of the main body and them,
            each with its own surface perturbation (seed ``shape_seed + k + 1``). Empty: a
            single perturbed ellipsoid.
        margin_mm: amplitude (mm, the std of the displacement, clipped at 3 std) of an
            infiltrative margin: the surface moves outward by ``margin_mm * T`` (mm), ``T``
            band-limited noise of unit std and correlation length ``margin_scale_mm`` drawn from
            ``default_rng([shape_seed, 17])``, clipped to ``[-3, 1]``; 0: a smooth surface.
        margin_scale_mm: correlation length (Gaussian sigma, mm) of that displacement.
        wraps_vessels: placement kept only part of the lesion clear of vessels (placement's
            ``vessel_reach`` < 1); the renderer then removes every voxel closer than
            ``vessel_clearance_mm`` to a vessel, so the lesion grows around them.
        single_component: the renderer keeps only the lesion's largest 26-connected part (with
            the blur around it): islands an infiltrative margin throws off, or parts the
            vessels, the capsule or other tumours cut away, are left as parenchyma, so the lesion
            is one lesion in its mask, as an annotated tumour is.
    """

    centre_mm: tuple[float, float, float] = bounded(kind="numbers", length=3)
    radii_mm: tuple[float, float, float] = bounded(lo=0, kind="numbers", low_open=True, length=3)
    rotation: tuple[tuple[float, float, float], ...] = bounded(kind=_rotation)
    size_class: str
    shape_seed: int
    texture_seed: int
    lobulation: float = bounded(0.1, 0)
    irregularity: float = bounded(0.05, 0)
    edge_width_mm: float = 1.5
    mass_effect: float = bounded(0.0, 0, 1, high_open=True)
    subcapsular: bool = False
    vessel_clearance_mm: float = 0.0
    intensity: IntensitySpec = bounded(kind=_intensity, default_factory=IntensitySpec)
    preset: str = ""
    nodules: tuple[tuple[float, float, float, float], ...] = bounded((), kind=_nodules)
    margin_mm: float = bounded(0.0, 0)
    margin_scale_mm: float = bounded(2.0, 0, low_open=True)
    wraps_vessels: bool = False
    single_component: bool = False

    def __post_init__(self) -> None:
        """Every field's range is checked here, however the spec is built (a manifest's line,
        :func:`dataclasses.replace`); then the check across fields."""
        check_fields(self, "lesion")
        if self.lobulation + self.irregularity >= 0.9:
            raise ConfigError(f"lesion: lobulation + irregularity must be below 0.9, got {self.lobulation} + "
                              f"{self.irregularity}.")

    @property
    def max_extent_mm(self) -> float:
        """An upper bound of the distance from the centre to any lesion voxel (mm)."""
        return lesion_extent_mm(self.radii_mm, self.lobulation + self.irregularity, self.nodules, self.margin_mm)

    @property
    def equivalent_radius_mm(self) -> float:
        """Radius of the sphere with the base ellipsoid's volume (mm)."""
        return float(np.prod(self.radii_mm) ** (1.0 / 3.0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TumorSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: unknown or missing keys.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"a lesion record has unknown keys {unknown}.")
        try:  # the fields' kinds turn the JSON lists and the intensity mapping into their types
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"a lesion record is incomplete: {exc}.") from exc


#: An infiltrative margin's displacement is clipped at this many of its standard deviations
#: inward, and at ``MARGIN_OUTWARD`` outward (which keeps islands outside the surface rare).
MARGIN_CLIP = 3.0
MARGIN_OUTWARD = 1.0


def lesion_extent_mm(radii_mm, perturbation: float, nodules=(), margin_mm: float = 0.0) -> float:
    """Upper bound (mm) of the distance from a lesion's centre to its surface: ``max(r) (1 + p)``
    for the main body (``p`` = lobulation + irregularity), ``max(r) (|q| + s (1 + p))`` for a
    sub-nodule ``(q, s)``, plus ``MARGIN_OUTWARD x margin_mm``."""
    grow = 1.0 + perturbation
    reach = grow
    for qx, qy, qz, s in nodules:
        reach = max(reach, math.sqrt(qx * qx + qy * qy + qz * qz) + s * grow)
    return max(radii_mm) * reach + MARGIN_OUTWARD * margin_mm


def nodule_spec(spec: TumorSpec, k: int) -> TumorSpec:
    """Sub-nodule ``k`` of ``spec`` as a single-body lesion (its own centre, radii and seed)."""
    qx, qy, qz, s = spec.nodules[k]
    r0, r1, r2 = spec.radii_mm
    u = (qx * r0, qy * r1, qz * r2)  # lesion-axis offset (mm); world offset = R u
    centre = tuple(c + sum(row[a] * u[a] for a in range(3)) for c, row in zip(spec.centre_mm, spec.rotation))
    return replace(spec, centre_mm=centre, radii_mm=(s * r0, s * r1, s * r2), nodules=(),
                   shape_seed=(spec.shape_seed + k + 1) % (2**31 - 1))


def specs_to_json(specs: list[TumorSpec]) -> str:
    """Serialise a list of specs (one JSON array)."""
    return json.dumps([s.to_dict() for s in specs])


def specs_from_json(text: str) -> list[TumorSpec]:
    """Inverse of :func:`specs_to_json`."""
    return [TumorSpec.from_dict(d) for d in json.loads(text)]
