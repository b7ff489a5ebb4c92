"""`PhantomConfig`: every knob of the procedural abdominal CT phantom, each range declared with its
field and checked on construction (:mod:`synthtumor.config_rules`).

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

from synthtumor.config_rules import ConfigError, bounded, check_fields, choice, numbers

__all__ = ["PhantomConfig", "PHASES", "MAX_VOXELS", "MIN_FIELD_OF_VIEW"]

PHASES: tuple[str, ...] = ("native", "arterial", "portal", "delayed")
"""Contrast phases the phantom can render."""

MAX_VOXELS = 80_000_000
"""Largest grid (voxels) a phantom may have: about 320 MB of float32 image."""

#: Smallest extent (mm) along X, Y and Z in which the abdomen fits.
MIN_FIELD_OF_VIEW: tuple[float, float, float] = (340.0, 250.0, 180.0)


def _extents(value: Any, name: str, lo: None, hi: float) -> tuple[float, ...]:
    """Three extents (mm), each at least its axis's :data:`MIN_FIELD_OF_VIEW` and at most ``hi``."""
    out = numbers(value, name, None, hi, length=3)
    if any(v < low for v, low in zip(out, MIN_FIELD_OF_VIEW)):
        raise ConfigError(f"{name} must be at least {list(MIN_FIELD_OF_VIEW)} mm (X, Y, Z) so the abdomen fits, "
                          f"got {list(out)}.")
    return out


def _phase(value: Any, name: str, lo: None, hi: None) -> str:
    """A contrast phase of :data:`PHASES`, any case and surrounding spaces."""
    return choice(value.strip().lower() if isinstance(value, str) else value, name, PHASES)


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of :func:`synthtumor.phantom.make_phantom`.

    Attributes:
        spacing: voxel size along X, Y, Z in mm, each in [0.2, 10].
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

    spacing: tuple[float, float, float] = bounded((1.5, 1.5, 2.0), 0.2, 10.0, "numbers", length=3)
    field_of_view: tuple[float, float, float] = bounded((360.0, 280.0, 220.0), None, 600.0, _extents)
    phase: str = bounded("portal", kind=_phase)
    n_lesions: int = bounded(0, 0, 20, "int")
    noise_sigma_range: tuple[float, float] = bounded((10.0, 16.0), 0.0, 100.0, "range")
    liver_volume_range: tuple[float, float] = bounded((1.3, 2.0), 1.0, 2.4, "range")
    lesion_radius_range: tuple[float, float] = bounded((5.0, 20.0), 2.0, 40.0, "range")
    psf_sigma_mm: float = bounded(0.5, 0.0, 3.0)
    noise_grain_mm: float = bounded(0.9, 0.2, 5.0)
    noise_cutoff_mm: float = bounded(4.0, 0.0, 50.0)
    texture_hu: float = bounded(4.0, 0.0, 30.0)
    intensity_spread: float = bounded(1.0, 0.0, 3.0)
    anatomy_variability: float = bounded(1.0, 0.0, 2.0)
    vessel_generations: int = bounded(4, 1, 6, "int")
    vessel_fraction: float = bounded(0.04, 0.01, 0.10)

    def __post_init__(self) -> None:
        """Every field is checked here, however the config is built (keys read as in the YAML
        file: ``n_lesions``); then the checks across fields."""
        check_fields(self, "")
        n_voxels = math.prod(max(1, round(f / s)) for f, s in zip(self.field_of_view, self.spacing))
        if n_voxels > MAX_VOXELS:
            raise ConfigError(
                f"spacing {self.spacing} mm over field_of_view {self.field_of_view} mm gives "
                f"{n_voxels:,} voxels, more than the {MAX_VOXELS:,} allowed.",
                fix="use a coarser spacing or a smaller field_of_view.",
            )
        if self.noise_cutoff_mm != 0.0 and self.noise_cutoff_mm <= self.noise_grain_mm:
            raise ConfigError(
                f"noise_cutoff_mm = {self.noise_cutoff_mm} must exceed noise_grain_mm = "
                f"{self.noise_grain_mm}.",
                fix="set noise_cutoff_mm to several times noise_grain_mm, or 0 to disable it.",
            )

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

