"""Predict with a trained run: sliding-window inference, back on each scan's own grid.

Each input case gives ``OUT/<case_id>.nii.gz`` (0 background, 1 organ, 2 tumour) written in the
input file's orientation, affine and header, so ``synthtumor evaluate --pred OUT --ref INPUT``
compares them directly. End to end: one network, then (where the config's
``largest_organ_component`` is set) only the largest connected organ-or-tumour component
kept. Cascaded: the organ network on the whole scan, then the tumour network inside the largest
organ component's bounding box plus ``cascade_margin_mm``; tumour is kept inside the organ's box only.
Sliding windows are laid over the in-plane box of the scan's tissue only (:func:`body_box`); the
air around it is background.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from safetensors.torch import load_model
from scipy import ndimage as ndi
from tqdm import tqdm

from synthtumor.errors import ConfigError, raise_user_error_in
from synthtumor.io.case_io import write_json_atomic
from synthtumor.io.guards import check_finite_weights, check_output_apart, check_output_free, only_names
from synthtumor.io.layouts import input_paths, open_input
from synthtumor.io.nifti import is_nifti, ras_geometry, write_nifti
from synthtumor.metrics._crop import bounding_box
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items, inference_transform
from synthtumor.train_seg.networks import build_network
from synthtumor.train_seg.sampling import slab_indices

__all__ = ["TrainedStage", "body_box", "segment_slices", "keep_largest_organ", "load_run", "predict_item",
           "predict_items", "run_predict", "PREDICTION_LABELS"]

#: Written as the predictions folder's dataset.json, so `synthtumor evaluate` knows the classes.
PREDICTION_LABELS = {"labels": {"background": 0, "organ": 1, "tumor": 2}}


class TrainedStage:
    """One stage's network in eval mode, with its config."""

    def __init__(self, folder: Path) -> None:
        meta_path = folder / "model.json"
        if not meta_path.is_file() or not (folder / "model.safetensors").is_file():
            raise ConfigError(f"{folder} holds no trained model.", fix="train it with `synthtumor train-seg` first.")
        meta = json.loads(meta_path.read_text())
        self.config = TrainConfig.from_dict(meta["config"])
        self.stage = meta["stage"]
        self.network = build_network(self.config, int(meta["classes"]))
        load_model(self.network, str(folder / "model.safetensors"))  # one read; shared tensors restored
        check_finite_weights(self.network.state_dict(), folder / "model.safetensors")
        self.network.eval()

    def segment(self, image: torch.Tensor) -> np.ndarray:
        """Class index per voxel of a (1, X, Y, Z) scaled image (slice by slice in the slice modes)."""
        image = torch.as_tensor(image)
        labels = np.zeros(tuple(image.shape[1:]), dtype=np.uint8)
        box = body_box(image)
        if box is None:
            return labels  # nothing above the window's low end: no tissue to label
        body = image[(slice(None), *box)]
        if self.config.spatial_dims == 2:
            context = (self.config.in_channels - 1) // 2
            labels[box] = segment_slices(self.network, body, self.config.patch_size, context)
            return labels
        with torch.inference_mode():
            logits = sliding_window_inference(body[None].float(), roi_size=self.config.patch_size, sw_batch_size=2,
                                              predictor=self.network, overlap=0.25, mode="gaussian")
        labels[box] = logits[0].argmax(0).numpy().astype(np.uint8)
        return labels


def body_box(image: torch.Tensor) -> tuple[slice, slice, slice] | None:
    """The in-plane bounding box (all slices) of a (1, X, Y, Z) windowed image's voxels above 0.

    After the HU window the air around the body is 0, the value sliding-window inference pads
    with, so windows laid over the box see what they would see over the whole plane: air or
    padding, both 0. Fewer windows are needed (4 instead of 6 on most of the demo's scans), and
    as they sit elsewhere the labels can differ slightly. None where no voxel is above 0.
    """
    above = torch.as_tensor(image)[0] > 0
    plane = bounding_box(above.any(dim=2).numpy())
    return None if plane is None else (*plane, slice(0, above.shape[2]))


def segment_slices(network: torch.nn.Module, image: torch.Tensor, patch_size: tuple[int, ...], context: int,
                   slices_per_batch: int = 16) -> np.ndarray:
    """Class index per voxel of a (1, X, Y, Z) scaled image by a 2-D network, one axial slice at
    a time: each slice with ``context`` neighbours per side as channels (the first and last
    slices repeated beyond the scan's ends, as in training), a sliding window of ``patch_size``
    in-plane, and the slices stacked back into the 3-D grid."""
    volume = torch.as_tensor(image)[0].float()
    depth = volume.shape[-1]
    labels = np.empty(tuple(volume.shape), dtype=np.uint8)
    with torch.inference_mode():
        for first in range(0, depth, slices_per_batch):
            zs = range(first, min(depth, first + slices_per_batch))
            batch = torch.stack([volume[..., torch.as_tensor(slab_indices(z, context, depth))].permute(2, 0, 1)
                                 for z in zs])
            logits = sliding_window_inference(batch, roi_size=tuple(patch_size), sw_batch_size=8,
                                              predictor=network, overlap=0.25, mode="gaussian")
            labels[..., first:first + len(zs)] = logits.argmax(1).permute(1, 2, 0).numpy().astype(np.uint8)
    return labels


def load_run(run: str | os.PathLike) -> tuple[str, dict[str, TrainedStage]]:
    """The strategy of a run folder and its trained stages."""
    run = Path(run)
    meta_path = run / "run.json"
    if not meta_path.is_file():
        raise ConfigError(f"{run} is not a training run (no run.json).",
                          fix="pass the --out of `synthtumor train-seg`.")
    strategy = json.loads(meta_path.read_text())["strategy"]
    folders = {"end_to_end": {"all": "model"}, "cascaded": {"organ": "organ", "tumour": "tumour"}}[strategy]
    return strategy, {stage: TrainedStage(run / name) for stage, name in folders.items()}


def _largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest 26-connected component of ``mask`` (None where the mask is empty)."""
    labels, n = ndi.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return None
    return labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1


def _largest_component_box(mask: np.ndarray, margin: np.ndarray) -> tuple[slice, ...] | None:
    component = _largest_component(mask)
    if component is None:
        return None
    coords = np.argwhere(component)
    lo = np.maximum(coords.min(axis=0) - margin, 0)
    hi = np.minimum(coords.max(axis=0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def keep_largest_organ(label: np.ndarray) -> np.ndarray:
    """Keep only the largest 26-connected component of organ-or-tumour; everything else becomes
    background (nnU-Net's "largest component" post-processing, for a single connected organ
    such as the liver). A label with no foreground is returned unchanged."""
    component = _largest_component(label > 0)
    if component is None:
        return label
    return np.where(component, label, 0).astype(label.dtype)


def predict_item(strategy: str, stages: dict[str, TrainedStage], item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels (0/1/2) on the training grid, and that grid's affine."""
    first = next(iter(stages.values()))
    try:
        data = {"image": item["image"], "case_id": item.get("case_id", "scan")}
        image = inference_transform(first.config)(data)["image"]
    except RuntimeError as exc:
        raise_user_error_in(exc)
    affine = np.asarray(image.affine, dtype=np.float64)
    if strategy == "end_to_end":
        label = stages["all"].segment(image)
        return (keep_largest_organ(label) if first.config.largest_organ_component else label), affine
    organ = stages["organ"].segment(image).astype(bool)
    label = organ.astype(np.uint8)
    config = stages["tumour"].config
    margin = np.ceil(config.cascade_margin_mm / np.asarray(config.spacing_mm)).astype(int)
    box = _largest_component_box(organ, margin)
    if box is not None:
        crop = image[(slice(None),) + box]
        tumour = stages["tumour"].segment(crop).astype(bool)
        label[box][tumour] = 2
    return label, affine


def _to_scan_grid(label: np.ndarray, affine: np.ndarray, scan_affine: np.ndarray,
                  scan_shape: tuple[int, ...]) -> np.ndarray:
    """Nearest-neighbour resampling from the prediction grid to the scan's RAS grid."""
    matrix = np.linalg.inv(affine) @ scan_affine
    return ndi.affine_transform(label, matrix[:3, :3], offset=matrix[:3, 3], output_shape=scan_shape,
                                order=0, mode="constant", cval=0)


def _owns(out: Path) -> bool:
    """A folder written by predict: its label legend, label files, nothing else."""
    try:
        stub = json.loads((out / "dataset.json").read_text()) == PREDICTION_LABELS
    except (OSError, ValueError):
        stub = False
    return stub and only_names("dataset.json", "*.nii.gz")(out)


def run_predict(
    model: str | os.PathLike,
    input_path: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    label_map: str | None = None,
    quiet: bool = False,
    overwrite: bool = False,
    image: str | os.PathLike | None = None,
    label: str | os.PathLike | None = None,
) -> list[Path]:
    """Segment every case of ``input_path`` (any layout, a case folder or a CSV list; labels are not
    needed), or the one scan ``image`` (with ``input_path`` None), into ``out``.

    ``out`` must be new, empty or an earlier prediction folder (``overwrite``: any folder apart from
    the inputs).

    Raises:
        ConfigError: ``model`` is not a trained run, or an input image is not NIfTI.
    """
    check_output_apart(out, input_paths(input_path, image, label))
    check_output_free(out, "predict", _owns, overwrite=overwrite)
    if Path(model).resolve() == Path(out).resolve():
        raise ConfigError(f"--out {out} is the model's run folder.", fix="write predictions to another folder.")
    items, _ = dataset_items(open_input(input_path, image, label, label_map, expect_ct=False), label_map)
    return predict_items(model, items, out, quiet=quiet)


def predict_items(model: str | os.PathLike, items: list[dict[str, Any]], out: str | os.PathLike, *,
                  quiet: bool = False) -> list[Path]:
    """Segment ``[{"image", "case_id"}]`` items into ``out`` (see :func:`run_predict`)."""
    strategy, stages = load_run(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(PREDICTION_LABELS, out / "dataset.json")
    written = []
    for item in tqdm(items, desc="predict", unit="case", disable=quiet):
        if not is_nifti(item["image"]):
            raise ConfigError(f"{item['image']} is not NIfTI; prediction reads NIfTI files.",
                              fix="convert DICOM series to NIfTI first (e.g. dcm2niix).")
        label, affine = predict_item(strategy, stages, item)
        scan_affine, scan_shape, source = ras_geometry(item["image"], case=item["case_id"])
        on_scan = _to_scan_grid(label, affine, scan_affine, scan_shape)
        written.append(write_nifti(on_scan, scan_affine, out / f"{item['case_id']}.nii.gz", source=source,
                                   dtype=np.uint8))
    return written
