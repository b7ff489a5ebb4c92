"""`PhantomConfig`: every knob of the procedural abdominal CT phantom, validated on construction.

Sizes and distances are millimetres, intensities Hounsfield units (HU), volumes litres where
the field name says so. Ranges ``(a, b)`` are sampling ranges: the value used for a case is
drawn ``~ U(a, b)`` from that case's own random generator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from synthtumor.errors import ConfigError

__all__ = ["PhantomConfig", "PHASES", "MAX_VOXELS"]

PHASES: tuple[str, ...] = ("native", "arterial", "portal", "delayed")
"""Contrast phases the phantom can render."""

MAX_VOXELS = 80_000_000
"""Largest grid (voxels) a phantom may have: about 320 MB of float32 image."""

_TUPLE_FIELDS = {
    "spacing": 3,
    "field_of_view": 3,
    "noise_sigma_range": 2,
    "liver_volume_range": 2,
    "lesion_radius_range": 2,
}


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of :func:`synthtumor.phantom.make_phantom`.

    Attributes:
        spacing: voxel size along X, Y, Z in mm, each in (0.2, 10].
        field_of_view: extent of the volume along X (left-right), Y (antero-posterior) and
            Z (cranio-caudal) in mm; at least (340, 250, 180) so the abdomen fits, at most 600.
        phase: contrast phase, one of ``native``, ``arterial``, ``portal``, ``delayed``.
        n_lesions: reference lesions per case, 0 to 20 (a stand-in for real tumours).
        noise_sigma_range: standard deviation of the CT noise in HU, ``sigma ~ U(a, b)``,
            0 <= a <= b <= 100.
        liver_volume_range: liver volume in litres, ``V ~ U(a, b)``, 1.0 <= a <= b <= 2.4.
        lesion_radius_range: equivalent-sphere radius of each reference lesion in mm,
            ``r ~ U(a, b)``, 2 <= a <= b <= 40.
        psf_sigma_mm: standard deviation of the Gaussian point-spread blur applied before noise,
            in mm, 0 to 3 (0 disables it).
        noise_grain_mm: standard deviation (mm) of the Gaussian low-pass that correlates the
            white noise, 0.2 to 5; sets the noise grain size.
        noise_cutoff_mm: standard deviation (mm) of the wide Gaussian subtracted from the
            low-passed noise (difference of Gaussians), removing its lowest frequencies as a
            filtered-back-projection kernel does; must exceed ``noise_grain_mm``; 0 disables it.
        texture_hu: standard deviation in HU of the smooth parenchymal texture of solid organs,
            0 to 30.
        intensity_spread: multiplier on the per-case spread of every tissue's HU (1 = the
            tabulated spread), 0 to 3.
        anatomy_variability: multiplier on every random size/position deviation of the
            anatomy (0 = the same mean anatomy every case), 0 to 2.
        vessel_generations: bifurcation generations of each vessel tree after its main
            branches, 1 to 6.
        vessel_fraction: target fraction of the liver volume taken by intrahepatic vessels;
            tree radii are scaled (by at most +-25 %) towards it, 0.01 to 0.10.
    """

    spacing: tuple[float, float, float] = (1.5, 1.5, 2.0)
    field_of_view: tuple[float, float, float] = (360.0, 280.0, 220.0)
    phase: str = "portal"
    n_lesions: int = 0
    noise_sigma_range: tuple[float, float] = (10.0, 16.0)
    liver_volume_range: tuple[float, float] = (1.3, 2.0)
    lesion_radius_range: tuple[float, float] = (5.0, 20.0)
    psf_sigma_mm: float = 0.5
    noise_grain_mm: float = 0.9
    noise_cutoff_mm: float = 4.0
    texture_hu: float = 4.0
    intensity_spread: float = 1.0
    anatomy_variability: float = 1.0
    vessel_generations: int = 4
    vessel_fraction: float = 0.04

    def __post_init__(self) -> None:
        for name, length in _TUPLE_FIELDS.items():
            object.__setattr__(self, name, _float_tuple(name, getattr(self, name), length))
        for name in ("psf_sigma_mm", "noise_grain_mm", "noise_cutoff_mm", "texture_hu",
                     "intensity_spread", "anatomy_variability", "vessel_fraction"):
            object.__setattr__(self, name, _float(name, getattr(self, name)))
        for name in ("n_lesions", "vessel_generations"):
            object.__setattr__(self, name, _int(name, getattr(self, name)))
        phase = str(self.phase).strip().lower() if isinstance(self.phase, str) else self.phase
        if phase not in PHASES:
            raise ConfigError(
                f"phase {self.phase!r} is not a contrast phase the phantom knows.",
                fix=f"set phase to one of: {', '.join(PHASES)}.",
            )
        object.__setattr__(self, "phase", phase)
        self._check_ranges()

    def _check_ranges(self) -> None:
        for axis, value in zip("XYZ", self.spacing):
            _within("spacing", value, 0.2, 10.0, f"{axis} spacing")
        for axis, value, low in zip("XYZ", self.field_of_view, (340.0, 250.0, 180.0)):
            _within("field_of_view", value, low, 600.0, f"{axis} extent")
        n_voxels = math.prod(max(1, round(f / s)) for f, s in zip(self.field_of_view, self.spacing))
        if n_voxels > MAX_VOXELS:
            raise ConfigError(
                f"spacing {self.spacing} mm over field_of_view {self.field_of_view} mm gives "
                f"{n_voxels:,} voxels, more than the {MAX_VOXELS:,} allowed.",
                fix="use a coarser spacing or a smaller field_of_view.",
            )
        _within("n_lesions", self.n_lesions, 0, 20)
        _ordered("noise_sigma_range", self.noise_sigma_range, 0.0, 100.0)
        _ordered("liver_volume_range", self.liver_volume_range, 1.0, 2.4)
        _ordered("lesion_radius_range", self.lesion_radius_range, 2.0, 40.0)
        _within("psf_sigma_mm", self.psf_sigma_mm, 0.0, 3.0)
        _within("noise_grain_mm", self.noise_grain_mm, 0.2, 5.0)
        if self.noise_cutoff_mm != 0.0 and self.noise_cutoff_mm <= self.noise_grain_mm:
            raise ConfigError(
                f"noise_cutoff_mm = {self.noise_cutoff_mm} must exceed noise_grain_mm = "
                f"{self.noise_grain_mm}.",
                fix="set noise_cutoff_mm to several times noise_grain_mm, or 0 to disable it.",
            )
        _within("noise_cutoff_mm", self.noise_cutoff_mm, 0.0, 50.0)
        _within("texture_hu", self.texture_hu, 0.0, 30.0)
        _within("intensity_spread", self.intensity_spread, 0.0, 3.0)
        _within("anatomy_variability", self.anatomy_variability, 0.0, 2.0)
        _within("vessel_generations", self.vessel_generations, 1, 6)
        _within("vessel_fraction", self.vessel_fraction, 0.01, 0.10)

    # -- (de)serialisation ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PhantomConfig:
        """Build a config from a mapping; missing keys keep their defaults.

        Raises:
            ConfigError: ``values`` is not a mapping, names an unknown key, or holds a value
                out of range.
        """
        if not isinstance(values, dict):
            raise ConfigError(
                f"a phantom config must be a mapping of field names to values, "
                f"got {type(values).__name__}.",
                fix="write the YAML file as 'key: value' lines.",
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, values)) - known)
        if unknown:
            raise ConfigError(
                f"unknown phantom config key(s): {', '.join(unknown)}.",
                fix=f"use only: {', '.join(sorted(known))}.",
            )
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PhantomConfig:
        """Load a config from a YAML file (``yaml.safe_load``); unknown keys are an error.

        An empty file gives the defaults.

        Raises:
            ConfigError: the file is missing, is not valid YAML, names an unknown key or holds
                a value out of range.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:  # a binary file too: one line, not a traceback
            raise ConfigError(
                f"cannot read the phantom config {str(path)!r}: {getattr(err, 'strerror', None) or err}.",
                fix="check the path.",
            ) from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(
                f"the phantom config {str(path)!r} is not valid YAML ({err}).",
                fix="fix the YAML syntax.",
            ) from None
        try:
            return cls.from_dict({} if values is None else values)
        except ConfigError as err:
            raise ConfigError(f"{str(path)!r}: {err.problem}", fix=err.fix) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (YAML/JSON-able) copy of every field, tuples as lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# -- validation helpers -----------------------------------------------------------------------
def _float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} = {value!r} is not a finite number.", fix=f"give {name} a number.")
    return float(value)


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name} = {value!r} is not a whole number.", fix=f"give {name} an integer.")
    return int(value)


def _float_tuple(name: str, value: Any, length: int) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != length:
        raise ConfigError(
            f"{name} = {value!r} must be a list of {length} numbers.",
            fix=f"write {name} as [{', '.join(['n'] * length)}].",
        )
    return tuple(_float(name, v) for v in value)


def _within(name: str, value: float, low: float, high: float, what: str | None = None) -> None:
    if not low <= value <= high:
        raise ConfigError(
            f"{what or name} = {value} is outside [{low}, {high}].",
            fix=f"set {name} within [{low}, {high}].",
        )


def _ordered(name: str, pair: tuple[float, ...], low: float, high: float) -> None:
    a, b = pair
    if a > b:
        raise ConfigError(
            f"{name} = ({a}, {b}) is reversed: the lower bound exceeds the upper.",
            fix=f"write {name} as [low, high], e.g. [{b}, {a}].",
        )
    if a < low or b > high:
        raise ConfigError(
            f"{name} = ({a}, {b}) is outside [{low}, {high}].",
            fix=f"keep both bounds of {name} within [{low}, {high}].",
        )
