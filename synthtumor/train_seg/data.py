"""Data for segmentation training: dataset items and MONAI pipelines per training stage.

Stages: ``all`` (classes background / organ / tumour, end to end), ``organ`` (background /
organ, the cascade's first model) and ``tumour`` (background / tumour inside the organ's
bounding box plus a margin, the cascade's second model).

Training pipeline: load -> channel first -> RAS -> resample to ``spacing_mm`` -> label map to
0/1/2 (with on-the-fly synthesis for synthetic arms: :class:`PrepareLesionSynthesisd` and
:class:`RandLesionSynthesisd`, in HU) -> HU window to [0, 1] -> stage labels -> pad ->
patches by class (``tumour_oversampling`` of them centred on tumour) -> random flips.
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
    CropForegroundd,
    EnsureChannelFirstd,
    LoadImaged,
    MapTransform,
    Orientationd,
    RandCropByLabelClassesd,
    RandFlipd,
    ScaleIntensityRanged,
    Spacingd,
    SpatialPadd,
)

from synthtumor.case import Phase
from synthtumor.generators.base import LesionGenerator
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.layouts import load_dataset
from synthtumor.train_seg.config import TrainConfig
from synthtumor.transforms import ApplyLabelMapd, PrepareLesionSynthesisd, RandLesionSynthesisd

__all__ = ["STAGES", "dataset_items", "train_transform", "inference_transform", "stage_classes", "StageLabelsd"]

STAGES = ("all", "organ", "tumour")
KEYS = ("image", "label")


def stage_classes(stage: str) -> int:
    """Output classes of a stage's network."""
    return 3 if stage == "all" else 2


def dataset_items(
    path: str | os.PathLike, label_map: LabelMap | str | None = None
) -> tuple[list[dict[str, Any]], LabelMap]:
    """``[{"image", "label", "case_id"}]`` for the cases of any supported layout, and their label map.

    Cases without a label file get no ``"label"`` entry (prediction needs none).
    """
    dataset = load_dataset(path, label_map)
    items = []
    for ref in dataset.refs:
        item = {"image": str(ref.image), "case_id": ref.case_id}
        if ref.label is not None:
            item["label"] = str(ref.label)
        items.append(item)
    first = dataset.refs[0].label_map
    return items, first or LabelMap(organ=(1,), tumor=(2,), name="decathlon_liver")


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
    modes = ("bilinear", "nearest")[: len(keys)]
    return [
        _load_images(keys),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS", labels=None),
        Spacingd(keys, pixdim=config.spacing_mm, mode=modes),
    ]


def _scale(config: TrainConfig) -> ScaleIntensityRanged:
    low, high = config.window_hu
    return ScaleIntensityRanged("image", a_min=low, a_max=high, b_min=0.0, b_max=1.0, clip=True)


def _organ_crop(config: TrainConfig) -> CropForegroundd:
    margin = [int(np.ceil(config.cascade_margin_mm / s)) for s in config.spacing_mm]
    return CropForegroundd(KEYS, source_key="label", select_fn=lambda x: x > 0.5, margin=margin, allow_smaller=True)


def train_transform(
    config: TrainConfig,
    *,
    stage: str = "all",
    label_map: LabelMap | str | None = None,
    generator: LesionGenerator | None = None,
    synthesis_prob: float = 1.0,
    phase: Phase | str = Phase.UNKNOWN,
) -> Compose:
    """The training pipeline of one stage (see module docstring).

    Args:
        config: the training configuration.
        stage: one of ``STAGES``.
        label_map: roles of the label values (default 1 organ, 2 tumour).
        generator: draw lesions on the fly (synthetic arms); None for real data only.
        synthesis_prob: probability that a sample gets synthetic lesions.
        phase: contrast phase of the scans.
    """
    lm = resolve_label_map(label_map)
    steps = _head(config)
    if generator is not None:
        steps += [PrepareLesionSynthesisd(KEYS, label_map=lm, phase=phase),
                  RandLesionSynthesisd(KEYS, generator=generator, prob=synthesis_prob)]
    else:
        steps.append(ApplyLabelMapd("label", label_map=lm))
    steps.append(_scale(config))
    if stage == "tumour":
        steps.append(_organ_crop(config))
    steps.append(StageLabelsd("label", stage))
    oversample = config.tumour_oversampling
    ratios = [(1 - oversample) / 2, (1 - oversample) / 2, oversample] if stage == "all" else [1 - oversample, oversample]
    steps += [
        SpatialPadd(KEYS, spatial_size=config.patch_size),
        RandCropByLabelClassesd(KEYS, label_key="label", spatial_size=config.patch_size, ratios=ratios,
                                num_classes=stage_classes(stage), num_samples=1, warn=False),
        RandFlipd(KEYS, prob=0.5, spatial_axis=0),
        RandFlipd(KEYS, prob=0.5, spatial_axis=1),
    ]
    transform = Compose(steps)
    transform.set_random_state(config.seed)
    return transform


def inference_transform(config: TrainConfig) -> Compose:
    """Load the image, reorient, resample and scale it, as in training (no randomness)."""
    return Compose(_head(config, ("image",)) + [_scale(config)])
