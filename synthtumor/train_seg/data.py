"""Data for segmentation training: dataset items and MONAI pipelines per training stage.

Stages: ``all`` (classes background / organ / tumour, end to end), ``organ`` (background /
organ, the cascade's first model) and ``tumour`` (background / tumour inside the organ's
bounding box plus a margin, the cascade's second model).

Training pipeline: load -> channel first -> RAS -> resample to ``spacing_mm`` -> label map to
0/1/2 (:class:`PrepareLesionSynthesisd` for synthetic arms, which also reads the case's vessel
mask) -> class indices (all of this is deterministic, so ``CacheDataset`` caches it) -> one
block per sample centred by class (``tumour_oversampling`` of them on tumour; for synthetic
arms, lesions drawn on the fly and rendered in the block only: :mod:`synthtumor.train_seg.sampling`)
-> HU window to [0, 1] -> stage labels -> (slice modes) slab to channels and centre-slice label
-> random flips (and, where the config asks, in-plane rotation, zoom and intensity jitter).
A block is the 3-D patch (``dims: 3``) or the in-plane patch by
``2 * context_slices + 1`` slices (``dims: 2.5``; one slice for ``dims: 2``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    Compose,
    ClassesToIndicesd,
    CropForegroundd,
    DeleteItemsd,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    Orientationd,
    RandAffined,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    ScaleIntensityRanged,
    Spacingd,
)

from synthtumor.case import Phase
from synthtumor.generators.base import LesionGenerator
from synthtumor.io.guards import CheckScand
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.case_ref import Dataset
from synthtumor.io.layouts import load_dataset
from synthtumor.io.monai_items import monai_items
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.sampling import RandClassBlockd, SlabToSliced
from synthtumor.transforms import ApplyLabelMapd, PrepareLesionSynthesisd

__all__ = ["STAGES", "dataset_items", "train_transform", "inference_transform", "stage_classes", "StageLabelsd"]

STAGES = ("all", "organ", "tumour")
KEYS = ("image", "label")


def stage_classes(stage: str) -> int:
    """Output classes of a stage's network."""
    return 3 if stage == "all" else 2


def dataset_items(
    path: str | os.PathLike | Dataset, label_map: LabelMap | str | None = None
) -> tuple[list[dict[str, Any]], LabelMap]:
    """``[{"image", "label", "case_id"[, "vessels"]}]`` for the cases of any supported layout (or
    an opened :class:`Dataset`), and their label map (see :func:`synthtumor.io.monai_items`).

    Cases without a label file get no ``"label"`` entry (prediction needs none); a case with a
    separate vessel mask (a case folder's ``vessels.nii.gz``) gets its path as ``"vessels"``; a case
    of per-structure masks gets the list of the mask files its label map names, read as channels.
    """
    dataset = path if isinstance(path, Dataset) else load_dataset(path, label_map)
    return monai_items(dataset)


class StageLabelsd(MapTransform):
    """Turn the 0/1/2 label into a stage's classes (organ: >0 -> 1; tumour: ==2 -> 1)."""

    def __init__(self, keys: str = "label", stage: str = "all") -> None:
        super().__init__(keys)
        self.stage = stage

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            if self.stage == "organ":
                d[key] = (d[key] > 0.5).to(d[key].dtype) if isinstance(d[key], torch.Tensor) else (d[key] > 0.5)
            elif self.stage == "tumour":
                d[key] = (d[key] > 1.5).to(d[key].dtype) if isinstance(d[key], torch.Tensor) else (d[key] > 1.5)
        return d


def _load_images(keys: tuple[str, ...]) -> LoadImaged:
    """LoadImaged, built without MONAI's notices that its optional GPU DICOM decoder is absent.

    LoadImaged constructs every reader, and the nvImageCodec one logs a warning and warns once
    more in each process where CUDA or nvImageCodec is missing (a few lines per training run).
    Only those two notices are held back, only while the transform is built; DICOM still loads
    through pydicom.
    """
    logger = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader", category=UserWarning)
            return LoadImaged(keys, image_only=True)
    finally:
        logger.setLevel(level)


def _head(config: TrainConfig, keys: tuple[str, ...] = KEYS) -> list:
    modes = ("bilinear",) + ("nearest",) * (len(keys) - 1)
    return [
        _load_images(keys),
        EnsureChannelFirstd(keys),
        CheckScand(keys[:2]),
        Orientationd(keys, axcodes="RAS", labels=None),
        Spacingd(keys, pixdim=config.spacing_mm, mode=modes),
    ]


def _scale(config: TrainConfig) -> ScaleIntensityRanged:
    low, high = config.window_hu
    return ScaleIntensityRanged("image", a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True)


def _organ_crop(config: TrainConfig) -> CropForegroundd:
    margin = [int(np.ceil(config.cascade_margin_mm / s)) for s in config.spacing_mm]
    return CropForegroundd(KEYS, source_key="label", select_fn=lambda x: x > 0.5, margin=margin, allow_smaller=True)


def _augmentation(config: TrainConfig) -> list:
    """In-plane rotation and zoom (probability 0.3) and intensity jitter, as the config sets them."""
    steps: list = []
    if config.rotate_deg > 0 or config.scale_range > 0:
        angle = np.deg2rad(config.rotate_deg)
        rotate = angle if config.spatial_dims == 2 else (0.0, 0.0, angle)
        scale = config.scale_range if config.spatial_dims == 2 else (config.scale_range, config.scale_range, 0.0)
        steps.append(RandAffined(KEYS, prob=0.3, rotate_range=rotate, scale_range=scale, mode=("bilinear", "nearest"),
                                 padding_mode="border"))
    if config.intensity_jitter > 0:
        steps += [RandScaleIntensityd("image", factors=config.intensity_jitter, prob=0.3),
                  RandShiftIntensityd("image", offsets=config.intensity_jitter, prob=0.3)]
    return steps


def stage_ratios(stage: str, tumour_oversampling: float) -> list[float]:
    """Probabilities of centring a sample on background, organ and tumour (label 0, 1, 2)."""
    o = float(tumour_oversampling)
    if stage == "organ":
        return [1 - o, o / 2, o / 2]
    return [(1 - o) / 2, (1 - o) / 2, o]


def train_transform(
    config: TrainConfig,
    *,
    stage: str = "all",
    label_map: LabelMap | str | None = None,
    generator: LesionGenerator | None = None,
    synthesis_prob: float = 1.0,
    phase: Phase | str = Phase.UNKNOWN,
    vessels_key: str | None = None,
) -> Compose:
    """The training pipeline of one stage (see module docstring).

    Args:
        config: the training configuration (``dims`` sets 3-D patches or 2-D / 2.5-D slices).
        stage: one of ``STAGES``.
        label_map: roles of the label values (default 1 organ, 2 tumour).
        generator: draw lesions on the fly (synthetic arms); None for real data only.
        synthesis_prob: probability that a tumour-centred sample gets synthetic lesions.
        phase: contrast phase of the scans.
        vessels_key: key of a separate vessel mask file (e.g. a case folder's
            ``vessels.nii.gz``) that placement keeps lesions away from; None for none.
    """
    lm = resolve_label_map(label_map)
    keys = KEYS + ((vessels_key,) if vessels_key else ())
    steps = _head(config, keys)
    if generator is not None:
        steps.append(PrepareLesionSynthesisd(KEYS, label_map=lm, phase=phase, generator=generator,
                                             vessels_key=vessels_key))
    else:
        steps.append(ApplyLabelMapd("label", label_map=lm))
    if vessels_key:
        steps.append(DeleteItemsd(vessels_key))
    if stage == "tumour":
        steps.append(_organ_crop(config))
    slab = config.spatial_dims == 2
    steps += [
        ClassesToIndicesd("label", num_classes=3, indices_postfix="_cls_indices"),
        RandClassBlockd(KEYS, config.slab_size, stage_ratios(stage, config.tumour_oversampling),
                        slab_context=(config.slab_size[2] // 2) if slab else None,
                        generator=generator, synthesis_prob=synthesis_prob),
        _scale(config),
        StageLabelsd("label", stage),
    ]
    if slab:
        steps.append(SlabToSliced(KEYS))
    steps += [
        RandFlipd(KEYS, prob=0.5, spatial_axis=0),
        RandFlipd(KEYS, prob=0.5, spatial_axis=1),
        *_augmentation(config),
        EnsureTyped(KEYS, data_type="tensor", dtype=torch.float32, track_meta=False),
    ]
    transform = Compose(steps)
    transform.set_random_state(config.seed)
    return transform


def inference_transform(config: TrainConfig) -> Compose:
    """Load the image, reorient, resample and scale it, as in training (no randomness)."""
    return Compose(_head(config, ("image",)) + [_scale(config)])
