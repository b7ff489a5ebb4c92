"""On-the-fly lesion synthesis in a MONAI training loop (a few iterations, CPU is fine).

    python examples/train_monai.py                       # makes 4 phantom cases first
    python examples/train_monai.py --data Task03_Liver   # or any layout synthtumor reads

The pipeline (the fast order, measured by benchmarks/bench_onthefly.py): LoadImaged ->
EnsureChannelFirstd -> Orientationd(RAS) -> Spacingd -> PrepareLesionSynthesisd (cached by
CacheDataset) -> RandLesionCropd (fresh lesions every sample, drawn on the whole volume, only the
patch rendered, in HU) -> ScaleIntensityRanged, with DataLoader(num_workers=2). With
``--whole-volume`` it takes the slower order: RandLesionSynthesisd on the whole volume, then
RandCropByPosNegLabeld.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    Orientationd,
    RandCropByPosNegLabeld,
    ScaleIntensityRanged,
    Spacingd,
)

from synthtumor.generators import HeuristicGenerator
from synthtumor.io import load_dataset, monai_items
from synthtumor.transforms import PrepareLesionSynthesisd, RandLesionCropd, RandLesionSynthesisd


def data_list(folder: Path, label_map: str | None):
    """The data dictionaries of any layout and the label map that reads their labels (per-structure
    masks, e.g. TotalSegmentator's segmentations/, load as one channel each)."""
    return monai_items(load_dataset(folder, label_map))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: make phantoms)")
    parser.add_argument("--label-map", default=None)
    parser.add_argument("--phase", default="portal")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--whole-volume", action="store_true",
                        help="synthesise on the whole volume, then crop (slower; every lesion in the scan)")
    args = parser.parse_args()
    if args.data is None:
        from synthtumor.phantom import PhantomConfig
        from synthtumor.phantom.cohort import write_phantom_cohort

        args.data = Path("example-phantoms")
        write_phantom_cohort(args.data, n=4, seed=0, config=PhantomConfig(), quiet=True)

    keys = ("image", "label")
    items, label_map = data_list(args.data, args.label_map)
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    patch = (64, 64, 32)
    steps = [
        LoadImaged(keys),
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS"),
        Spacingd(keys, pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest")),
        PrepareLesionSynthesisd(keys, label_map=label_map, phase=args.phase),
    ]
    scale = ScaleIntensityRanged("image", a_min=-200, a_max=300, b_min=0.0, b_max=1.0, clip=True)
    if args.whole_volume:
        steps += [RandLesionSynthesisd(keys, generator=generator, prob=0.8), scale,
                  RandCropByPosNegLabeld(keys, label_key="label", spatial_size=patch, pos=2, neg=1, num_samples=2)]
    else:
        steps += [RandLesionCropd(keys, generator=generator, roi_size=patch, prob=0.8), scale]
    transform = Compose(steps)
    # copy_cache=False: RandLesionCropd never writes into the cached volume, so no copy per sample.
    dataset = CacheDataset(items, transform, num_workers=0,
                           copy_cache=args.whole_volume)
    loader = DataLoader(dataset, batch_size=2, shuffle=True, num_workers=args.workers)
    model = UNet(spatial_dims=3, in_channels=1, out_channels=3, channels=(8, 16, 32), strides=(2, 2))
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step = 0
    while step < args.iterations:
        for batch in loader:
            optimiser.zero_grad()
            loss = loss_fn(model(batch["image"]), batch["label"])
            loss.backward()
            optimiser.step()
            tumour = int((batch["label"] == 2).sum())
            print(f"iteration {step}: loss {loss.item():.3f}, tumour voxels in the batch {tumour}")
            step += 1
            if step >= args.iterations:
                break


if __name__ == "__main__":
    main()
