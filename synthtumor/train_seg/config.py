"""Training configuration: YAML in ``configs/train/``, a validated dataclass here.

Sizes are in voxels after resampling to ``spacing_mm``; intensities in HU before the
``window_hu`` scaling to [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping


from synthtumor.config_paths import config_dir, read_yaml_mapping
from synthtumor.errors import ConfigError

__all__ = ["TrainConfig", "NETWORKS", "STRATEGIES", "DIMS"]

NETWORKS = ("unet", "dynunet", "segresnet", "swinunetr")
STRATEGIES = ("end_to_end", "cascaded")
#: Training modes: 2-D axial slices, 2.5-D (a slice with neighbours as channels), 3-D patches.
DIMS = (2.0, 2.5, 3.0)


@dataclass(frozen=True)
class TrainConfig:
    """How to train one segmentation model.

    Attributes:
        network: one of ``NETWORKS`` (MONAI ``UNet``; nnU-Net-style ``DynUNet`` with deep
            supervision; ``SegResNet``; ``SwinUNETR``, 3-D only).
        dims: ``3`` (3-D patches), ``2`` (axial slices) or ``2.5`` (an axial slice with
            ``context_slices`` neighbours on each side as input channels, predicting the centre
            slice; the scan's end slices are repeated where a neighbour is missing). Lesion
            synthesis and every metric stay 3-D in all modes.
        context_slices: neighbours on each side of the centre slice for ``dims: 2.5`` (1-5).
        channels: feature channels per level (SegResNet and SwinUNETR use the first as their
            initial filters / feature size).
        strategy: ``end_to_end`` (background / organ / tumour) or ``cascaded`` (an organ model,
            then a tumour model inside the organ's bounding box).
        spacing_mm: resampling target (mm).
        patch_size: training patch and sliding-window size (voxels): three sizes for 3-D, two
            (in-plane X, Y) for 2-D and 2.5-D.
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
        rotate_deg: in-plane (axial) rotation of a sample, ``angle ~ U(-rotate_deg, rotate_deg)``
            degrees, with probability 0.3 (0: off).
        scale_range: in-plane zoom of a sample, ``factor ~ U(1 - s, 1 + s)`` per in-plane axis, drawn
            with the rotation (0: off).
        intensity_jitter: each sample's scaled intensities times ``1 + U(-j, j)`` and shifted
            by ``U(-j, j)``, each with probability 0.3 (0: off).
        largest_organ_component: after end-to-end prediction keep only the largest connected
            organ-or-tumour component (nnU-Net's post-processing for one connected organ, such as
            the liver; leave it off for paired organs such as the kidneys).
    """

    network: str = "unet"
    dims: float = 3.0
    context_slices: int = 1
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
    rotate_deg: float = 0.0
    scale_range: float = 0.0
    intensity_jitter: float = 0.0
    largest_organ_component: bool = False

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
        if self.network == "dynunet" and len(self.channels) < 3:
            raise ConfigError("train.channels needs at least three levels for dynunet.")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ConfigError("train.spacing_mm needs three positive values (mm).")
        try:
            object.__setattr__(self, "dims", float(self.dims))
        except (TypeError, ValueError):
            raise ConfigError(f"train.dims {self.dims!r} must be 2, 2.5 or 3.") from None
        if self.dims not in DIMS:
            raise ConfigError(f"train.dims {self.dims:g} is not a training mode.", fix="use 2, 2.5 or 3.")
        try:
            object.__setattr__(self, "context_slices", int(self.context_slices))
        except (TypeError, ValueError):
            raise ConfigError("train.context_slices must be a whole number in [1, 5].") from None
        if not 1 <= self.context_slices <= 5:
            raise ConfigError("train.context_slices must be in [1, 5].")
        if self.spatial_dims == 2 and self.network == "swinunetr":
            raise ConfigError("train.network swinunetr is 3-D only here.", fix="use dims: 3, or unet / dynunet / segresnet.")
        n_sizes = self.spatial_dims
        if len(self.patch_size) != n_sizes or min(self.patch_size) < 8:
            raise ConfigError(f"train.patch_size needs {n_sizes} sizes of at least 8 voxels for dims {self.dims:g}"
                              f" ({'X, Y' if n_sizes == 2 else 'X, Y, Z'}), got {list(self.patch_size)}.")
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
        if not 0 <= self.rotate_deg <= 180 or not 0 <= self.scale_range < 1 or not 0 <= self.intensity_jitter < 1:
            raise ConfigError("train.rotate_deg must be in [0, 180] degrees, train.scale_range and "
                              "train.intensity_jitter in [0, 1).")
        if not isinstance(self.largest_organ_component, bool):
            raise ConfigError("train.largest_organ_component must be true or false.")
        if self.cascade_margin_mm < 0:
            raise ConfigError("train.cascade_margin_mm must be >= 0.")

    @property
    def spatial_dims(self) -> int:
        """2 for the slice modes (2 and 2.5), 3 for 3-D patches."""
        return 3 if self.dims == 3.0 else 2

    @property
    def in_channels(self) -> int:
        """Network input channels: ``2 * context_slices + 1`` for 2.5-D, else 1."""
        return 2 * int(self.context_slices) + 1 if self.dims == 2.5 else 1

    @property
    def slab_size(self) -> tuple[int, int, int]:
        """The 3-D block (voxels) cut from a scan per training sample: the patch for 3-D, the
        in-plane patch by ``in_channels`` slices for the slice modes."""
        if self.spatial_dims == 3:
            return tuple(self.patch_size)  # type: ignore[return-value]
        return (self.patch_size[0], self.patch_size[1], self.in_channels)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Validate a mapping (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"name", "description"})
        if unknown:
            raise ConfigError(f"train config: unknown keys {unknown}.", fix=f"use {sorted(known)}.")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"train config: a value has the wrong type ({exc}).",
                              fix="numbers where numbers are expected, lists where lists are.") from None

    @classmethod
    def load(cls, name_or_path: str | Path, **overrides: Any) -> TrainConfig:
        """A preset name in ``configs/train/`` or a YAML path, with overrides."""
        path = Path(name_or_path)
        if not path.is_file():
            path = config_dir("train") / f"{name_or_path}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in config_dir("train").glob("*.yaml"))
            raise ConfigError(f"no train config {str(name_or_path)!r}.", fix=f"use one of {known} or a YAML path.")
        data = read_yaml_mapping(path, "train config")
        return cls.from_dict({**data, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able form."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        out["dims"] = int(self.dims) if self.dims.is_integer() else self.dims
        return out
