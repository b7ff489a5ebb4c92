"""Diffusion lesion-generator presets: YAML in ``configs/diffusion/``, validated dataclasses here.

A preset has six sections (every length in mm, every intensity in HU):

* ``data``: the training cube (``cube_voxels`` per side at ``spacing_mm``), the margin by which
  the lesion mask is dilated, the HU window mapped to [-1, 1] and the patient-level split;
* ``model``: the MONAI ``DiffusionModelUNet`` (channels, attention, residual blocks) and the
  optional class conditioning;
* ``schedule``: the diffusers DDPM noise schedule and what the network predicts;
* ``train``: AdamW, warm-up + cosine learning rate, EMA, loss weighting, precision, checkpoints;
* ``sample``: DDIM steps, eta, RePaint resampling and the lesion batch size;
* ``latent``: only for ``mode: latent``: the MONAI ``AutoencoderKL`` first stage, trained before
  the denoiser by the same command; the denoiser then works on its latents (see ``latent.py``).

Overrides passed to :meth:`DiffusionConfig.from_preset` are deep-merged into the YAML before
validation, e.g. ``from_preset("tiny_cpu", train={"max_steps": 10})``. Every bad value raises
:class:`~synthtumor.errors.ConfigError` naming the field (``model.channels``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from synthtumor.config_paths import config_dir
from synthtumor.config_rules import ConfigError, bounded, check_fields
from synthtumor.generators.diffusion.sections import (
    CONDITIONS,
    DataConfig,
    LatentConfig,
    ModelConfig,
    SampleConfig,
    ScheduleConfig,
    DiffusionTrainConfig,
    fail,
)

__all__ = [
    "CONDITIONS", "DataConfig", "ModelConfig", "ScheduleConfig", "DiffusionTrainConfig", "SampleConfig",
    "LatentConfig", "DiffusionConfig", "list_diffusion_presets", "load_diffusion_config",
]

_SECTIONS = {"data": DataConfig, "model": ModelConfig, "schedule": ScheduleConfig,
             "train": DiffusionTrainConfig, "sample": SampleConfig, "latent": LatentConfig}


def _section(cls: type, optional: bool = False) -> Callable[..., Any]:
    """A check that a section is a ``cls`` (or None where ``optional``); a mapping is parsed."""
    def check(value: Any, name: str, lo: None, hi: None) -> Any:
        if isinstance(value, cls) or (optional and value is None):
            return value
        if isinstance(value, Mapping):
            return cls.parse(value)
        raise fail(name, f"must be a section ({cls.__name__} or a mapping), got {type(value).__name__}.")
    return check


@dataclass(frozen=True)
class DiffusionConfig:
    """A diffusion preset (see module docstring); ``mode`` is ``pixel`` or ``latent``."""

    name: str = "custom"
    description: str = ""
    mode: str = bounded("pixel", kind="choice", options=("pixel", "latent"))
    data: DataConfig = bounded(kind=_section(DataConfig), default_factory=DataConfig)
    model: ModelConfig = bounded(kind=_section(ModelConfig), default_factory=ModelConfig)
    schedule: ScheduleConfig = bounded(kind=_section(ScheduleConfig), default_factory=ScheduleConfig)
    train: DiffusionTrainConfig = bounded(kind=_section(DiffusionTrainConfig), default_factory=DiffusionTrainConfig)
    sample: SampleConfig = bounded(kind=_section(SampleConfig), default_factory=SampleConfig)
    latent: LatentConfig | None = bounded(None, kind=_section(LatentConfig, optional=True))

    def __post_init__(self) -> None:
        check_fields(self, "")
        levels = len(self.model.channels) - 1
        n = self.data.cube_voxels
        if self.mode == "pixel":
            if n % (2**levels):
                raise fail("data.cube_voxels", f"{n} is not divisible by 2^{levels}, "
                            f"which the {levels + 1}-level model.channels needs.",
                            fix="use a multiple of 2 ** (len(model.channels) - 1).")
            return
        if self.latent is None:
            raise fail("latent", "mode: latent needs a latent section (the AutoencoderKL first stage).",
                       fix="add a latent: section (latent: {} takes the defaults), or set mode: pixel.")
        down = self.latent.downsampling
        if n % down:
            raise fail("data.cube_voxels", f"{n} is not divisible by the autoencoder's downsampling factor {down} "
                        f"(2^(levels - 1) of latent.channels {list(self.latent.channels)}).",
                        fix=f"use a cube_voxels that is a multiple of {down}, or change latent.channels.")
        grid = n // down
        if grid % (2**levels):
            raise fail("model.channels", f"the {grid}^3 latent grid is not divisible by 2^{levels}, which the "
                        f"{levels + 1}-level model.channels needs.",
                        fix="use fewer model.channels levels, or a cube_voxels whose latent grid "
                        f"(cube_voxels / {down}) is a multiple of 2 ** (len(model.channels) - 1).")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiffusionConfig:
        """Build and validate from a plain mapping (as YAML or JSON gives it).

        Raises:
            ConfigError: an unknown key or a value out of range (the message names it).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a diffusion config must be a mapping, got {type(data).__name__}.")
        known = {"name", "description", "mode", *_SECTIONS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise fail(unknown[0], "unknown key.", fix=f"use keys from {sorted(known)}.")
        kwargs: dict[str, Any] = {k: data[k] for k in ("name", "description", "mode") if k in data}
        for key, section in _SECTIONS.items():
            if key == "latent" and data.get("latent") is None:
                continue
            kwargs[key] = section.parse(data.get(key))
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> DiffusionConfig:
        """Read a YAML preset file, deep-merge ``overrides``, validate."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read diffusion config {path}: {exc}.") from exc
        return cls.from_dict(_merge(data, overrides))

    @classmethod
    def from_preset(cls, name: str | Path, **overrides: Any) -> DiffusionConfig:
        """A preset of ``configs/diffusion/`` by name (``tiny_cpu``) or a YAML path.

        Raises:
            ConfigError: no such preset, or a bad value.
        """
        path = Path(name)
        if path.suffix not in (".yaml", ".yml"):
            path = config_dir("diffusion") / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(f"unknown diffusion preset {str(name)!r}.",
                                  fix=f"use one of {list_diffusion_presets()} or a YAML path.")
        return cls.from_yaml(path, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-able dict (tuples become lists); ``from_dict`` inverts it."""
        data = dataclasses.asdict(self)
        if data["latent"] is None:
            del data["latent"]
        return yaml.safe_load(yaml.safe_dump(_lists(data), sort_keys=False))

    def replace_train(self, **changes: Any) -> DiffusionConfig:
        """This config with some ``train`` fields changed (validated)."""
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))

    def replace_latent(self, **changes: Any) -> DiffusionConfig:
        """This config with some ``latent`` fields changed (validated; latent mode only)."""
        if self.latent is None:
            raise fail("latent", "this config has no latent section to change.")
        return dataclasses.replace(self, latent=dataclasses.replace(self.latent, **changes))

    @property
    def channels(self) -> int:
        """Channels of what the denoiser denoises: 1 (pixel) or ``latent.latent_channels``."""
        return 1 if self.latent is None or self.mode == "pixel" else self.latent.latent_channels


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def list_diffusion_presets() -> list[str]:
    """Names of the presets in ``configs/diffusion/``."""
    return sorted(p.stem for p in config_dir("diffusion").glob("*.yaml"))


def load_diffusion_config(config: DiffusionConfig | str | Path | Mapping[str, Any]) -> DiffusionConfig:
    """A config from a DiffusionConfig, a preset name, a YAML path or a mapping."""
    if isinstance(config, DiffusionConfig):
        return config
    if isinstance(config, Mapping):
        return DiffusionConfig.from_dict(config)
    return DiffusionConfig.from_preset(config)
