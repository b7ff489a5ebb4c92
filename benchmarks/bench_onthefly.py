"""Time per 96^3 training sample through a MONAI DataLoader, without and with synthtumor.

The baseline is the user's own pipeline with no synthtumor transform in it; each on-the-fly
synthesis path is timed against it, side by side in one run.

All pipelines start LoadImaged -> EnsureChannelFirstd -> Orientationd(RAS) -> Spacingd, and a
CacheDataset caches everything up to the first random transform:

* baseline: ... -> ScaleIntensityRanged -> RandCropByPosNegLabeld(96^3). Nothing of
  synthtumor in it (the phantoms' labels are already 0 background, 1 liver, 2 tumour), so the
  intensity scaling is cached and each sample pays only the cache copy and the crop.
* synth-full: ... -> PrepareLesionSynthesisd (cached) -> RandLesionSynthesisd on the whole
  volume -> ScaleIntensityRanged -> RandCropByPosNegLabeld (the order of the transforms'
  docstring; the scaling now runs per sample, on the whole volume).
* synth-crop: ... -> PrepareLesionSynthesisd (cached) -> RandCropByPosNegLabeld ->
  RandLesionSynthesisd on the crop -> ScaleIntensityRanged (on the crop).
* lesion-crop: ... -> PrepareLesionSynthesisd (cached) -> RandLesionCropd (in place of the
  crop: lesions drawn on the whole volume, only the patch rendered) -> ScaleIntensityRanged.

Each DataLoader epoch is exactly --samples samples (a sampler with replacement), so no
prefetched work spills into the next timing. After one warm-up epoch per path, --rounds rounds
time one epoch of every path back to back, in a rotating order. ms/sample is the median over
the rounds; the overhead is the median over the rounds of (path time / baseline time in the same
round), with its lowest and highest round beside it. Only figures from one run compare: the
machine's speed drifts between runs.

    python benchmarks/bench_onthefly.py                         # 4 cases at 1 mm, workers 0 1 2
    python benchmarks/bench_onthefly.py --cases 1 --spacing 2 --samples 4 --rounds 2   # quick
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

# one BLAS thread per process, as torch below: the DataLoader workers are the parallelism (a
# multi-threaded OpenBLAS in each worker only oversubscribes the cores); set these to override
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from monai.data import CacheDataset, DataLoader  # noqa: E402
from monai.transforms import (  # noqa: E402
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    Orientationd,
    RandCropByPosNegLabeld,
    ScaleIntensityRanged,
    Spacingd,
)
from torch.utils.data import RandomSampler  # noqa: E402

from synthtumor.generators import HeuristicGenerator  # noqa: E402
from synthtumor.io import load_dataset  # noqa: E402
from synthtumor.phantom import PhantomConfig  # noqa: E402
from synthtumor.phantom.cohort import write_phantom_cohort  # noqa: E402
from synthtumor.transforms import PrepareLesionSynthesisd, RandLesionCropd, RandLesionSynthesisd  # noqa: E402

# MONAI's notices that its optional GPU DICOM decoder is absent (a few lines per process)
logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader", category=UserWarning)

KEYS = ("image", "label")
ROI = (96, 96, 96)
PATHS = ("baseline", "synth-full", "synth-crop", "lesion-crop")


def _load() -> LoadImaged:
    """MONAI's LoadImaged as a user builds it (its notices about an absent GPU DICOM decoder are
    silenced once at the top of this script, not here)."""
    return LoadImaged(KEYS, image_only=True)


def pipeline(kind: str, spacing: float) -> Compose:
    head = [_load(), EnsureChannelFirstd(KEYS), Orientationd(KEYS, axcodes="RAS", labels=None),
            Spacingd(KEYS, pixdim=(spacing,) * 3, mode=("bilinear", "nearest"))]
    scale = ScaleIntensityRanged("image", a_min=-200, a_max=300, b_min=0.0, b_max=1.0, clip=True)
    crop = RandCropByPosNegLabeld(KEYS, label_key="label", spatial_size=ROI, pos=1, neg=1, num_samples=1)
    if kind == "baseline":
        return Compose(head + [scale, crop])
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    prepare = PrepareLesionSynthesisd(KEYS, phase="portal")
    tails = {
        "synth-full": [RandLesionSynthesisd(KEYS, generator=generator), scale, crop],
        "synth-crop": [crop, RandLesionSynthesisd(KEYS, generator=generator), scale],
        "lesion-crop": [RandLesionCropd(KEYS, generator=generator, roi_size=ROI), scale],
    }
    return Compose(head + [prepare] + tails[kind])


def cached(files: list[dict], kind: str, spacing: float) -> CacheDataset:
    transform = pipeline(kind, spacing)
    transform.set_random_state(0)
    return CacheDataset(files, transform, progress=False, num_workers=1)


def loader(dataset: CacheDataset, workers: int, samples: int) -> DataLoader:
    sampler = RandomSampler(dataset, replacement=True, num_samples=samples,
                            generator=torch.Generator().manual_seed(0))
    return DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=workers,
                      persistent_workers=workers > 0)


def epoch_seconds(data: DataLoader) -> float:
    start = time.perf_counter()
    for batch in data:
        assert tuple(batch["image"].shape[-3:]) == ROI
    return time.perf_counter() - start


def measure(datasets: dict[str, CacheDataset], workers: int, samples: int, rounds: int) -> dict[str, tuple]:
    loaders = {kind: loader(datasets[kind], workers, samples) for kind in PATHS}
    for data in loaders.values():
        epoch_seconds(data)  # warm-up: worker start-up, first-use caches
    times: dict[str, list[float]] = {kind: [] for kind in PATHS}
    for r in range(rounds):
        for i in range(len(PATHS)):
            kind = PATHS[(i + r) % len(PATHS)]
            times[kind].append(epoch_seconds(loaders[kind]) / samples)
    del loaders
    base = times["baseline"]
    out = {}
    for kind, t in times.items():
        ratios = [a / b - 1 for a, b in zip(t, base)]
        out[kind] = (1000 * statistics.median(t), statistics.median(ratios), min(ratios), max(ratios))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4, help="phantom cases (default 4)")
    parser.add_argument("--spacing", type=float, default=1.0, help="isotropic voxel size in mm (default 1)")
    parser.add_argument("--samples", type=int, default=8, help="samples per timed epoch (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per path (default 5)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader num_workers values")
    parser.add_argument("--cohort", type=Path, default=None,
                        help="write the phantoms here and reuse them on a rerun (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cohort or Path(tmp)
        config = PhantomConfig(spacing=(args.spacing,) * 3, field_of_view=(340.0, 260.0, 200.0))
        write_phantom_cohort(root, args.cases, 0, config, quiet=True)
        dataset = load_dataset(root)
        files = [{"image": str(r.image), "label": str(r.label)} for r in dataset.refs]
        print(f"{args.cases} phantom cases at {args.spacing:g} mm, shape {dataset[0].shape}; {ROI[0]}^3 crops; "
              f"CacheDataset; {args.samples} samples x {args.rounds} rounds per path; torch threads 1, "
              f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
        print(f"{'path':<12} {'workers':>7} {'ms/sample':>10} {'vs baseline':>12} {'(rounds)':>14}")
        datasets = {kind: cached(files, kind, args.spacing) for kind in PATHS}
        for workers in args.workers:
            for kind, (ms, overhead, low, high) in measure(datasets, workers, args.samples, args.rounds).items():
                vs, spread = ("-", "") if kind == "baseline" else (f"{overhead:+.0%}", f"{low:+.0%}..{high:+.0%}")
                print(f"{kind:<12} {workers:>7} {ms:>10.0f} {vs:>12} {spread:>14}", flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
