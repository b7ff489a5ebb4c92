"""Samples per second through a MONAI DataLoader yielding 96^3 training crops, with and without
on-the-fly synthesis, on phantom cases at 1 mm; prints the overhead ratio.

Pipelines (CacheDataset caches everything up to the first random transform):

* baseline: Load -> ChannelFirst -> Orientation(RAS) -> Prepare (cached) -> ScaleIntensityRange
  -> RandCropByPosNegLabel(96^3)
* synth-full: the same with RandLesionSynthesisd on the whole volume before the scaling (the
  README's order)
* synth-crop: crop first, then RandLesionSynthesisd on the 96^3 crop (the patch fast path)
* lesion-crop: RandLesionCropd (lesions drawn on the whole volume, only the patch rendered)

    python benchmarks/bench_onthefly.py [--cases 2] [--samples 24] [--workers 0 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    Orientationd,
    RandCropByPosNegLabeld,
    ScaleIntensityRanged,
)

from synthtumor.commands.phantom_cohort import write_phantom_cohort
from synthtumor.generators import HeuristicGenerator
from synthtumor.io import load_dataset
from synthtumor.phantom import PhantomConfig
from synthtumor.train_seg.data import _load_images  # LoadImaged without MONAI's GPU-decoder notices
from synthtumor.transforms import PrepareLesionSynthesisd, RandLesionCropd, RandLesionSynthesisd

KEYS = ("image", "label")
ROI = (96, 96, 96)


def pipeline(kind: str) -> Compose:
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    head = [_load_images(KEYS), EnsureChannelFirstd(KEYS), Orientationd(KEYS, axcodes="RAS", labels=None),
            PrepareLesionSynthesisd(KEYS, phase="portal")]
    scale = ScaleIntensityRanged("image", a_min=-200, a_max=300, b_min=0, b_max=1, clip=True)
    crop = RandCropByPosNegLabeld(KEYS, label_key="label", spatial_size=ROI, pos=1, neg=1, num_samples=1)
    drop = RandLesionSynthesisd(KEYS, generator=generator, prob=0.0)  # only drops the preparation
    tails = {
        "baseline": [drop, scale, crop],
        "synth-full": [RandLesionSynthesisd(KEYS, generator=generator), scale, crop],
        "synth-crop": [crop, RandLesionSynthesisd(KEYS, generator=generator), scale],
        "lesion-crop": [RandLesionCropd(KEYS, generator=generator, roi_size=ROI), scale],
    }
    transform = Compose(head + tails[kind])
    transform.set_random_state(0)
    return transform


def rate(files: list[dict], kind: str, workers: int, samples: int) -> float:
    dataset = CacheDataset(files, pipeline(kind), progress=False, num_workers=0)
    loader = DataLoader(dataset, batch_size=1, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0)
    seen, start = 0, None
    while seen < samples + 2:
        for batch in loader:
            assert tuple(batch["image"].shape[-3:]) == ROI
            seen += 1
            if seen == 2:  # skip worker start-up
                start = time.perf_counter()
            if seen >= samples + 2:
                break
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        config = PhantomConfig(spacing=(1.0, 1.0, 1.0), field_of_view=(340.0, 260.0, 200.0))
        write_phantom_cohort(Path(tmp), args.cases, 0, config, quiet=True)
        files = [{"image": str(r.image), "label": str(r.label)} for r in load_dataset(tmp).refs]
        shape = load_dataset(tmp)[0].shape
        print(f"{args.cases} phantom cases at 1 mm, shape {shape}; 96^3 crops; {args.samples} samples per run")
        for workers in args.workers:
            rates = {kind: rate(files, kind, workers, args.samples)
                     for kind in ("baseline", "synth-full", "synth-crop", "lesion-crop")}
            base = rates["baseline"]
            line = ", ".join(f"{k} {v:.2f}/s" + ("" if k == "baseline" else f" ({base / v - 1:+.0%} time/sample)")
                             for k, v in rates.items())
            print(f"num_workers={workers}: {line}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
