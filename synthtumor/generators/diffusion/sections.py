"""The sections of a diffusion preset, each a validated frozen dataclass (see ``config.py``).

Every number's type and range is declared with its field (:mod:`synthtumor.config_rules`) and
checked whenever a section is built; a bad value raises :class:`~synthtumor.errors.ConfigError`
naming the field as ``section.key``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from synthtumor.config_rules import ConfigError, bounded, check_fields, choice

__all__ = ["CONDITIONS", "DataConfig", "ModelConfig", "ScheduleConfig", "DiffusionTrainConfig", "SampleConfig",
           "LatentConfig", "choice", "fail"]

#: What a model may be conditioned on (class labels); see ``model.class_index``.
CONDITIONS = ("size_class", "attenuation", "phase")
_BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
_PREDICTIONS = ("epsilon", "v_prediction")


def fail(name: str, problem: str, fix: str | None = None) -> ConfigError:
    return ConfigError(f"{name}: {problem}", fix=fix)


def _conditions(value: Any, name: str, lo: None, hi: None) -> tuple[str, ...]:
    """Distinct names from ``CONDITIONS``, as a tuple (none: empty)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise fail(name, f"must be a list of conditions from {list(CONDITIONS)}, got {value!r}.")
    conditioning = tuple(choice(c, name, CONDITIONS) for c in value)
    if len(set(conditioning)) != len(conditioning):
        raise fail(name, f"repeats a condition: {list(conditioning)}.")
    return conditioning


class _Section:
    """Shared parsing: unknown keys are errors; each number's type and range is declared with its
    field (:func:`~synthtumor.config_rules.bounded`) and checked whenever the section is built;
    ``_extra`` adds a section's checks across fields. Keys in errors read ``section.key``."""

    _name = ""

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
        check_fields(self, self._name)
        self._extra()

    def _extra(self) -> None:
        """Checks across fields."""

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def _f(self, key: str) -> str:
        return f"{self._name}.{key}"

    def _levels(self, channels_key: str = "channels", attention_key: str = "attention_levels") -> None:
        """One true/false in ``attention_key`` per level of ``channels_key``."""
        name, channels = self._f(channels_key), getattr(self, channels_key)
        attention = getattr(self, attention_key)
        if isinstance(attention, (str, bytes)) or not isinstance(attention, (list, tuple)) \
                or len(attention) != len(channels) or not all(isinstance(a, bool) for a in attention):
            raise fail(self._f(attention_key), f"needs one true/false per level of {name} {list(channels)}.")
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
    cube_voxels: int = bounded(16, 8, 512, "int")
    spacing_mm: float = bounded(2.0, 0.0, 20.0, low_open=True)
    margin_mm: float = bounded(3.0, 0.0, 50.0)
    max_fill: float = bounded(0.8, 0.1, 1.0)
    hu_window: tuple[float, float] = bounded((-200.0, 300.0), kind="numbers", length=2)
    val_fraction: float = bounded(0.2, 0.0, 0.9)
    split_seed: int = bounded(0, 0, None, "int")
    min_lesion_ml: float = bounded(0.01, 0.0)
    flip_augment: bool = bounded(True, kind="bool")

    def _extra(self) -> None:
        lo, hi = self.hu_window
        if hi <= lo:
            raise fail(self._f("hu_window"), f"low {lo} must be below high {hi}.", fix="write [low, high] in HU.")


@dataclass(frozen=True)
class ModelConfig(_Section):
    """The denoiser, MONAI ``DiffusionModelUNet``: ``channels`` per level, ``attention_levels``
    (one bool per level), ``num_res_blocks``, ``num_head_channels``, ``norm_num_groups``
    (must divide every channel count), ``conditioning`` (a subset of ``CONDITIONS``)."""

    _name = "model"
    channels: tuple[int, ...] = bounded((16, 32, 32), 1, None, "ints")
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = bounded(1, 1, 8, "int")
    num_head_channels: int = bounded(16, 1, None, "int")
    norm_num_groups: int = bounded(8, 1, None, "int")
    conditioning: tuple[str, ...] = bounded((), kind=_conditions)

    def _extra(self) -> None:
        self._levels()
        if any(c % self.norm_num_groups for c in self.channels):
            raise fail(self._f("channels"), f"{list(self.channels)} are not all multiples of norm_num_groups "
                        f"{self.norm_num_groups}.", fix="use channel counts divisible by model.norm_num_groups.")
        if any(a and c % self.num_head_channels for a, c in zip(self.attention_levels, self.channels)):
            raise fail(self._f("num_head_channels"), f"{self.num_head_channels} does not divide the channels "
                        "of an attention level.")


@dataclass(frozen=True)
class ScheduleConfig(_Section):
    """DDPM noise schedule: ``num_train_timesteps``, ``beta_schedule``, ``beta_start``,
    ``beta_end`` (ignored by ``squaredcos_cap_v2``), ``prediction_type`` (``epsilon`` or
    ``v_prediction``)."""

    _name = "schedule"
    num_train_timesteps: int = bounded(200, 10, 10000, "int")
    beta_schedule: str = bounded("squaredcos_cap_v2", kind="choice", options=_BETA_SCHEDULES)
    beta_start: float = bounded(0.0001, 0.0, 0.5, low_open=True)
    beta_end: float = bounded(0.02, 0.0, 0.999, low_open=True)
    prediction_type: str = bounded("v_prediction", kind="choice", options=_PREDICTIONS)

    def _extra(self) -> None:
        if self.beta_end < self.beta_start:
            raise fail(self._f("beta_end"), f"{self.beta_end} is below beta_start {self.beta_start}.")


@dataclass(frozen=True)
class DiffusionTrainConfig(_Section):
    """Training: ``batch_size`` (cubes per micro-batch), ``max_steps`` (optimizer steps),
    ``learning_rate`` and ``weight_decay`` (AdamW), ``warmup_steps`` (linear warm-up, then
    cosine decay to 0), ``gradient_accumulation_steps``, ``mask_weight`` (loss weight inside the
    mask; 1 outside), ``ema_decay``, ``max_grad_norm``, ``mixed_precision`` (``no`` or ``bf16``;
    bf16 is used only on a GPU), ``checkpoint_every`` and ``val_every`` (steps),
    ``keep_checkpoints`` (how many to keep), ``seed``."""

    _name = "train"
    batch_size: int = bounded(8, 1, 4096, "int")
    max_steps: int = bounded(1000, 1, None, "int")
    learning_rate: float = bounded(1e-3, 0.0, 1.0, low_open=True)
    weight_decay: float = bounded(1e-4, 0.0, 1.0)
    warmup_steps: int = bounded(50, 0, None, "int")
    gradient_accumulation_steps: int = bounded(1, 1, 1024, "int")
    mask_weight: float = bounded(5.0, 1.0, 1000.0)
    ema_decay: float = bounded(0.995, 0.0, 1.0)
    max_grad_norm: float = bounded(1.0, 0.0)
    mixed_precision: str = bounded("no", kind="choice", options=("no", "bf16"))
    checkpoint_every: int = bounded(250, 1, None, "int")
    val_every: int = bounded(100, 1, None, "int")
    keep_checkpoints: int = bounded(2, 1, None, "int")
    seed: int = bounded(0, 0, None, "int")


@dataclass(frozen=True)
class SampleConfig(_Section):
    """Sampling: ``ddim_steps``, ``eta`` (0 = deterministic DDIM), ``resample`` (RePaint
    resampling per step; 1 = none), ``batch_size`` (lesions per forward pass)."""

    _name = "sample"
    ddim_steps: int = bounded(50, 1, 10000, "int")
    eta: float = bounded(0.0, 0.0, 1.0)
    resample: int = bounded(1, 1, 50, "int")
    batch_size: int = bounded(8, 1, 4096, "int")


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
    channels: tuple[int, ...] = bounded((64, 128, 256), 1, None, "ints")
    attention_levels: tuple[bool, ...] = (False, False, False)
    latent_channels: int = bounded(4, 1, 64, "int")
    num_res_blocks: int = bounded(2, 1, 8, "int")
    norm_num_groups: int = bounded(32, 1, None, "int")
    nonlocal_attention: bool = bounded(False, kind="bool")
    kl_weight: float = bounded(1e-6, 0.0)
    learning_rate: float = bounded(1e-4, 0.0, 1.0, low_open=True)
    autoencoder_steps: int = bounded(100000, 1, None, "int")

    @property
    def downsampling(self) -> int:
        """How many voxels per side one latent voxel stands for: ``2^(len(channels) - 1)``."""
        return 2 ** (len(self.channels) - 1)

    def _extra(self) -> None:
        self._levels()
        if any(c % self.norm_num_groups for c in self.channels):
            raise fail(self._f("channels"), f"{list(self.channels)} are not all multiples of norm_num_groups "
                        f"{self.norm_num_groups}.", fix="use channel counts divisible by latent.norm_num_groups.")
