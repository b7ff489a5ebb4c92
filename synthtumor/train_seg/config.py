"""Training configuration: YAML in ``configs/train/``, a validated dataclass here.

Sizes are in voxels after resampling to ``spacing_mm``; intensities in HU before the
``window_hu`` scaling to [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from synthtumor.config_paths import config_dir
from synthtumor.errors import ConfigError

__all__ = ["TrainConfig", "NETWORKS", "STRATEGIES"]

NETWORKS = ("unet", "dynunet", "segresnet", "swinunetr")
STRATEGIES = ("end_to_end", "cascaded")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one segmentation model.

    Attributes:
        network: one of ``NETWORKS`` (MONAI ``UNet``; nnU-Net-style ``DynUNet`` with deep
            supervision; ``SegResNet``; ``SwinUNETR``).
        channels: feature channels per level (SegResNet and SwinUNETR use the first as their
            initial filters / feature size).
        strategy: ``end_to_end`` (background / organ / tumour) or ``cascaded`` (an organ model,
            then a tumour model inside the organ's bounding box).
        spacing_mm: resampling target (mm).
        patch_size: training patch and sliding-window size (voxels).
        window_hu: HU window scaled to [0, 1].
        batch_size: patches per step.
        iterations: optimiser steps (per stage for ``cascaded``).
        lr: AdamW learning rate, cosine-decayed to 0 over ``iterations``.
        weight_decay: AdamW weight decay.
        tumour_oversampling: fraction of patches centred on tumour voxels (the rest split
            evenly between organ and background).
        checkpoint_every: save a checkpoint every this many steps (and at the end).
        num_workers: DataLoader workers.
        mixed_precision: ``bf16`` (used only on a GPU) or ``no``.
        seed: training seed.
        cascade_margin_mm: margin around the organ's bounding box for the tumour stage (mm).
    """

    network: str = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strategy: str = "end_to_end"
    spacing_mm: tuple[float, float, float] = (1.5, 1.5, 2.0)
    patch_size: tuple[int, int, int] = (96, 96, 64)
    window_hu: tuple[float, float] = (-200.0, 300.0)
    batch_size: int = 2
    iterations: int = 2000
    lr: float = 1e-3
    weight_decay: float = 1e-5
    tumour_oversampling: float = 0.5
    checkpoint_every: int = 200
    num_workers: int = 2
    mixed_precision: str = "bf16"
    seed: int = 0
    cascade_margin_mm: float = 10.0

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ConfigError(f"train.network {self.network!r} is unknown.", fix=f"use one of {NETWORKS}.")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy {self.strategy!r} is unknown.", fix=f"use one of {STRATEGIES}.")
        for name, cast in (("channels", int), ("spacing_mm", float), ("patch_size", int), ("window_hu", float)):
            try:
                object.__setattr__(self, name, tuple(cast(v) for v in getattr(self, name)))
            except (TypeError, ValueError):
                raise ConfigError(f"train.{name} must be a list of numbers.") from None
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ConfigError("train.channels needs at least two positive levels.")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ConfigError("train.spacing_mm needs three positive values (mm).")
        if len(self.patch_size) != 3 or min(self.patch_size) < 8:
            raise ConfigError("train.patch_size needs three sizes of at least 8 voxels.")
        divisor = 2 ** (len(self.channels) - 1)
        if any(p % divisor for p in self.patch_size):
            raise ConfigError(f"train.patch_size {self.patch_size} must be divisible by {divisor} "
                              f"for {len(self.channels)} levels.")
        if len(self.window_hu) != 2 or self.window_hu[0] >= self.window_hu[1]:
            raise ConfigError("train.window_hu must be [low, high] with low < high.")
        for name in ("batch_size", "iterations", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1.")
        if self.num_workers < 0:
            raise ConfigError("train.num_workers must be >= 0.")
        if not 0.0 <= self.tumour_oversampling <= 1.0:
            raise ConfigError("train.tumour_oversampling must be in [0, 1].")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError("train.lr must be > 0 and train.weight_decay >= 0.")
        if self.mixed_precision not in ("bf16", "no"):
            raise ConfigError("train.mixed_precision must be bf16 or no.")
        if self.cascade_margin_mm < 0:
            raise ConfigError("train.cascade_margin_mm must be >= 0.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Validate a mapping (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"name", "description"})
        if unknown:
            raise ConfigError(f"train config: unknown keys {unknown}.", fix=f"use {sorted(known)}.")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, name_or_path: str | Path, **overrides: Any) -> TrainConfig:
        """A preset name in ``configs/train/`` or a YAML path, with overrides."""
        path = Path(name_or_path)
        if not path.is_file():
            path = config_dir("train") / f"{name_or_path}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in config_dir("train").glob("*.yaml"))
            raise ConfigError(f"no train config {str(name_or_path)!r}.", fix=f"use one of {known} or a YAML path.")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping.")
        return cls.from_dict({**data, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
