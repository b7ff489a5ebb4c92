"""Training configuration: YAML in ``configs/train/``, a validated dataclass here.

Sizes are in voxels after resampling to ``spacing_mm``; intensities in HU before the
``window_hu`` scaling to [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from synthtumor.config_paths import config_dir, read_yaml_mapping
from synthtumor.config_rules import ConfigError, bounded, check_fields

__all__ = ["TrainConfig", "NETWORKS", "STRATEGIES", "DIMS"]

NETWORKS = ("unet", "dynunet", "segresnet", "swinunetr")
STRATEGIES = ("end_to_end", "cascaded")
#: Training modes: 2-D axial slices, 2.5-D (a slice with neighbours as channels), 3-D patches.
DIMS = (2.0, 2.5, 3.0)


def _dims(value: Any, name: str, lo: None, hi: None) -> float:
    """A training mode of ``DIMS`` (2, 2.5 or 3), as a float."""
    try:
        dims = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} must be 2, 2.5 or 3.") from None
    if isinstance(value, bool) or dims not in DIMS:
        raise ConfigError(f"{name} {value!r} is not a training mode.", fix="use 2, 2.5 or 3.")
    return dims


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
        residual_blocks: DynUNet only: residual convolution blocks (true, the default, as runs
            trained before this key existed) or nnU-Net's plain conv-norm-activation pairs (false:
            about 1.6x faster inference on a CPU).
    """

    network: str = bounded("unet", kind="choice", options=NETWORKS)
    dims: float = bounded(3.0, kind=_dims)
    context_slices: int = bounded(1, 1, 5, "int")
    channels: tuple[int, ...] = bounded((16, 32, 64, 128), 1, None, "ints")
    strategy: str = bounded("end_to_end", kind="choice", options=STRATEGIES)
    spacing_mm: tuple[float, float, float] = bounded((1.5, 1.5, 2.0), 0, None, "numbers", low_open=True, length=3)
    patch_size: tuple[int, int, int] = bounded((96, 96, 64), 8, None, "ints")
    window_hu: tuple[float, float] = bounded((-200.0, 300.0), kind="numbers", length=2)
    batch_size: int = bounded(2, 1, None, "int")
    iterations: int = bounded(2000, 1, None, "int")
    lr: float = bounded(1e-3, 0, None, low_open=True)
    weight_decay: float = bounded(1e-5, 0)
    tumour_oversampling: float = bounded(0.5, 0, 1)
    checkpoint_every: int = bounded(200, 1, None, "int")
    num_workers: int = bounded(2, 0, None, "int")
    mixed_precision: str = bounded("bf16", kind="choice", options=("bf16", "no"))
    seed: int = bounded(0, 0, None, "int")
    cascade_margin_mm: float = bounded(10.0, 0)
    rotate_deg: float = bounded(0.0, 0, 180)
    scale_range: float = bounded(0.0, 0, 1, high_open=True)
    intensity_jitter: float = bounded(0.0, 0, 1, high_open=True)
    largest_organ_component: bool = bounded(False, kind="bool")
    residual_blocks: bool = bounded(True, kind="bool")

    def __post_init__(self) -> None:
        """Every value is checked here, however the config is built (:func:`bounded` fields);
        then the checks across fields."""
        check_fields(self, "train")
        if len(self.channels) < 2:
            raise ConfigError("train.channels needs at least two positive levels.")
        if self.network == "dynunet" and len(self.channels) < 3:
            raise ConfigError("train.channels needs at least three levels for dynunet.")
        if self.spatial_dims == 2 and self.network == "swinunetr":
            raise ConfigError("train.network swinunetr is 3-D only here.",
                              fix="use dims: 3, or unet / dynunet / segresnet.")
        n_sizes = self.spatial_dims
        if len(self.patch_size) != n_sizes:
            raise ConfigError(f"train.patch_size needs {n_sizes} sizes of at least 8 voxels for dims {self.dims:g}"
                              f" ({'X, Y' if n_sizes == 2 else 'X, Y, Z'}), got {list(self.patch_size)}.")
        divisor = 2 ** (len(self.channels) - 1)
        if any(p % divisor for p in self.patch_size):
            raise ConfigError(f"train.patch_size {self.patch_size} must be divisible by {divisor} "
                              f"for {len(self.channels)} levels.")
        if self.window_hu[0] >= self.window_hu[1]:
            raise ConfigError("train.window_hu must be [low, high] with low < high.")

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
