"""The sections of a diffusion preset, each a validated frozen dataclass (see ``config.py``).

Every number is checked against a ``(type, low, high)`` rule; a bad value raises
:class:`~synthtumor.errors.ConfigError` naming the field as ``section.key``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from synthtumor.errors import ConfigError

__all__ = ["CONDITIONS", "DataConfig", "ModelConfig", "ScheduleConfig", "DiffusionTrainConfig", "SampleConfig",
           "LatentConfig", "choice", "fail"]

#: What a model may be conditioned on (class labels); see ``model.class_index``.
CONDITIONS = ("size_class", "attenuation", "phase")
_BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
_PREDICTIONS = ("epsilon", "v_prediction")


def fail(name: str, problem: str, fix: str | None = None) -> ConfigError:
    return ConfigError(f"{name}: {problem}", fix=fix)


def _num(value: Any, name: str, kind: type, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise fail(name, f"must be {'an integer' if kind is int else 'a number'}, got {value!r}.")
    value = kind(value)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise fail(name, f"must be {'>' if lo_open else '>='} {lo}, got {value}.")
    if hi is not None and value > hi:
        raise fail(name, f"must be <= {hi}, got {value}.")
    return value


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise fail(name, f"unknown value {value!r}.", fix=f"use one of {list(options)}.")
    return str(value)


def _seq(value: Any, name: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise fail(name, f"must be a non-empty list, got {value!r}.")
    return list(value)


class _Section:
    """Shared parsing: unknown keys are errors; ``_rules`` gives each number's type and range.

    A rule is ``(type, low, high)`` or ``(type, low, high, "open")`` for a low bound excluded;
    ``_extra`` adds a section's own checks. Field names in errors read ``section.key``.
    """

    _name = ""
    _rules: dict[str, tuple] = {}

    @classmethod
    def parse(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise fail(cls._name, f"must be a mapping, got {type(data).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise fail(f"{cls._name}.{unknown[0]}", "unknown key.", fix=f"use keys from {sorted(known)}.")
        return cls(**data)

    def __post_init__(self) -> None:
        for key, (kind, lo, hi, *opt) in self._rules.items():
            self._set(key, _num(getattr(self, key), self._f(key), kind, lo, hi, lo_open=bool(opt)))
        self._extra()

    def _extra(self) -> None:
        """Checks beyond number ranges."""

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def _f(self, key: str) -> str:
        return f"{self._name}.{key}"

    def _levels(self, channels_key: str = "channels", attention_key: str = "attention_levels") -> None:
        name = self._f(channels_key)
        channels = tuple(_num(c, name, int, 1) for c in _seq(getattr(self, channels_key), name))
        attention = _seq(getattr(self, attention_key), self._f(attention_key))
        if len(attention) != len(channels) or not all(isinstance(a, bool) for a in attention):
            raise fail(self._f(attention_key), f"needs one true/false per level of {name} {list(channels)}.")
        self._set(channels_key, channels)
        self._set(attention_key, tuple(attention))


@dataclass(frozen=True)
class DataConfig(_Section):
    """Training cubes. Attributes: ``cube_voxels`` (voxels per side), ``spacing_mm`` (isotropic
    cube spacing, mm), ``margin_mm`` (mask dilation beyond the lesion surface, mm), ``max_fill``
    (largest fraction of the cube the dilated lesion's diameter may span; bigger lesions get a
    coarser cube), ``hu_window`` ([low, high] HU mapped to [-1, 1]), ``val_fraction`` (fraction
    of *scans* held out), ``split_seed``, ``min_lesion_ml`` (smaller components are skipped, mL),
    ``flip_augment`` (random axis flips in training)."""

    _name = "data"
    _rules = {"cube_voxels": (int, 8, 512), "spacing_mm": (float, 0.0, 20.0, "open"),
              "margin_mm": (float, 0.0, 50.0), "max_fill": (float, 0.1, 1.0), "val_fraction": (float, 0.0, 0.9),
              "split_seed": (int, 0, None), "min_lesion_ml": (float, 0.0, None)}
    cube_voxels: int = 16
    spacing_mm: float = 2.0
    margin_mm: float = 3.0
    max_fill: float = 0.8
    hu_window: tuple[float, float] = (-200.0, 300.0)
    val_fraction: float = 0.2
    split_seed: int = 0
    min_lesion_ml: float = 0.01
    flip_augment: bool = True

    def _extra(self) -> None:
        window = _seq(self.hu_window, self._f("hu_window"))
        if len(window) != 2:
            raise fail(self._f("hu_window"), f"must be [low, high], got {window!r}.")
        lo, hi = (_num(v, self._f("hu_window"), float) for v in window)
        if hi <= lo:
            raise fail(self._f("hu_window"), f"low {lo} must be below high {hi}.", fix="write [low, high] in HU.")
        self._set("hu_window", (lo, hi))
        if not isinstance(self.flip_augment, bool):
            raise fail(self._f("flip_augment"), f"must be true or false, got {self.flip_augment!r}.")


@dataclass(frozen=True)
class ModelConfig(_Section):
    """The denoiser, MONAI ``DiffusionModelUNet``: ``channels`` per level, ``attention_levels``
    (one bool per level), ``num_res_blocks``, ``num_head_channels``, ``norm_num_groups``
    (must divide every channel count), ``conditioning`` (a subset of ``CONDITIONS``)."""

    _name = "model"
    _rules = {"num_res_blocks": (int, 1, 8), "num_head_channels": (int, 1, None), "norm_num_groups": (int, 1, None)}
    channels: tuple[int, ...] = (16, 32, 32)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = 1
    num_head_channels: int = 16
    norm_num_groups: int = 8
    conditioning: tuple[str, ...] = ()

    def _extra(self) -> None:
        self._levels()
        if any(c % self.norm_num_groups for c in self.channels):
            raise fail(self._f("channels"), f"{list(self.channels)} are not all multiples of norm_num_groups "
                        f"{self.norm_num_groups}.", fix="use channel counts divisible by model.norm_num_groups.")
        if any(a and c % self.num_head_channels for a, c in zip(self.attention_levels, self.channels)):
            raise fail(self._f("num_head_channels"), f"{self.num_head_channels} does not divide the channels "
                        "of an attention level.")
        conditioning = tuple(self.conditioning or ())
        for c in conditioning:
            choice(c, self._f("conditioning"), CONDITIONS)
        if len(set(conditioning)) != len(conditioning):
            raise fail(self._f("conditioning"), f"repeats a condition: {list(conditioning)}.")
        self._set("conditioning", conditioning)


@dataclass(frozen=True)
class ScheduleConfig(_Section):
    """DDPM noise schedule: ``num_train_timesteps``, ``beta_schedule``, ``beta_start``,
    ``beta_end`` (ignored by ``squaredcos_cap_v2``), ``prediction_type`` (``epsilon`` or
    ``v_prediction``)."""

    _name = "schedule"
    _rules = {"num_train_timesteps": (int, 10, 10000), "beta_start": (float, 0.0, 0.5, "open"),
              "beta_end": (float, 0.0, 0.999, "open")}
    num_train_timesteps: int = 200
    beta_schedule: str = "squaredcos_cap_v2"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "v_prediction"

    def _extra(self) -> None:
        choice(self.beta_schedule, self._f("beta_schedule"), _BETA_SCHEDULES)
        if self.beta_end < self.beta_start:
            raise fail(self._f("beta_end"), f"{self.beta_end} is below beta_start {self.beta_start}.")
        choice(self.prediction_type, self._f("prediction_type"), _PREDICTIONS)


@dataclass(frozen=True)
class DiffusionTrainConfig(_Section):
    """Training: ``batch_size`` (cubes per micro-batch), ``max_steps`` (optimizer steps),
    ``learning_rate`` and ``weight_decay`` (AdamW), ``warmup_steps`` (linear warm-up, then
    cosine decay to 0), ``gradient_accumulation_steps``, ``mask_weight`` (loss weight inside the
    mask; 1 outside), ``ema_decay``, ``max_grad_norm``, ``mixed_precision`` (``no`` or ``bf16``;
    bf16 is used only on a GPU), ``checkpoint_every`` and ``val_every`` (steps),
    ``keep_checkpoints`` (how many to keep), ``seed``."""

    _name = "train"
    _rules = {"batch_size": (int, 1, 4096), "max_steps": (int, 1, None), "learning_rate": (float, 0.0, 1.0, "open"),
              "weight_decay": (float, 0.0, 1.0), "warmup_steps": (int, 0, None),
              "gradient_accumulation_steps": (int, 1, 1024), "mask_weight": (float, 1.0, 1000.0),
              "ema_decay": (float, 0.0, 1.0), "max_grad_norm": (float, 0.0, None), "checkpoint_every": (int, 1, None),
              "val_every": (int, 1, None), "keep_checkpoints": (int, 1, None), "seed": (int, 0, None)}
    batch_size: int = 8
    max_steps: int = 1000
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    gradient_accumulation_steps: int = 1
    mask_weight: float = 5.0
    ema_decay: float = 0.995
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    checkpoint_every: int = 250
    val_every: int = 100
    keep_checkpoints: int = 2
    seed: int = 0

    def _extra(self) -> None:
        choice(self.mixed_precision, self._f("mixed_precision"), ("no", "bf16"))


@dataclass(frozen=True)
class SampleConfig(_Section):
    """Sampling: ``ddim_steps``, ``eta`` (0 = deterministic DDIM), ``resample`` (RePaint
    resampling per step; 1 = none), ``batch_size`` (lesions per forward pass)."""

    _name = "sample"
    _rules = {"ddim_steps": (int, 1, 10000), "eta": (float, 0.0, 1.0), "resample": (int, 1, 50),
              "batch_size": (int, 1, 4096)}
    ddim_steps: int = 50
    eta: float = 0.0
    resample: int = 1
    batch_size: int = 8


@dataclass(frozen=True)
class LatentConfig(_Section):
    """Latent mode's first stage, MONAI ``AutoencoderKL`` (3-D, one input channel):
    ``channels`` per level (each level after the first halves the cube, so the latent grid is
    ``cube_voxels / 2^(levels - 1)`` per side), ``attention_levels`` (one bool per level),
    ``latent_channels``, ``num_res_blocks``, ``norm_num_groups`` (divides every channel count),
    ``nonlocal_attention`` (self-attention at the latent resolution in encoder and decoder; costly
    on large cubes), ``kl_weight`` (weight of the KL term against the L1 reconstruction),
    ``learning_rate`` (AdamW peak rate of the autoencoder), ``autoencoder_steps`` (optimizer
    steps of stage 1, before the denoiser's ``train.max_steps``)."""

    _name = "latent"
    _rules = {"latent_channels": (int, 1, 64), "num_res_blocks": (int, 1, 8), "norm_num_groups": (int, 1, None),
              "kl_weight": (float, 0.0, None), "learning_rate": (float, 0.0, 1.0, "open"),
              "autoencoder_steps": (int, 1, None)}
    channels: tuple[int, ...] = (64, 128, 256)
    attention_levels: tuple[bool, ...] = (False, False, False)
    latent_channels: int = 4
    num_res_blocks: int = 2
    norm_num_groups: int = 32
    nonlocal_attention: bool = False
    kl_weight: float = 1e-6
    learning_rate: float = 1e-4
    autoencoder_steps: int = 100000

    @property
    def downsampling(self) -> int:
        """How many voxels per side one latent voxel stands for: ``2^(len(channels) - 1)``."""
        return 2 ** (len(self.channels) - 1)

    def _extra(self) -> None:
        self._levels()
        if any(c % self.norm_num_groups for c in self.channels):
            raise fail(self._f("channels"), f"{list(self.channels)} are not all multiples of norm_num_groups "
                        f"{self.norm_num_groups}.", fix="use channel counts divisible by latent.norm_num_groups.")
        if not isinstance(self.nonlocal_attention, bool):
            raise fail(self._f("nonlocal_attention"), f"must be true or false, got {self.nonlocal_attention!r}.")
