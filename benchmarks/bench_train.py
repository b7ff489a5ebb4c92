"""Training iterations per second on the CPU for the demo configuration, with and without
on-the-fly synthesis (the demo study's tiny_cpu UNet on phantom cases).

    python benchmarks/bench_train.py [--steps 30] [--cases 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from synthtumor.commands.phantom_cohort import write_phantom_cohort
from synthtumor.generators import HeuristicGenerator
from synthtumor.phantom import PhantomConfig
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items
from synthtumor.train_seg.study_config import StudyConfig
from synthtumor.train_seg.trainer import train_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cases", type=int, default=3)
    args = parser.parse_args()
    study = StudyConfig.load("demo")
    config = replace(TrainConfig.load(study.train, **study.train_overrides), iterations=args.steps,
                     checkpoint_every=args.steps)
    print(f"torch threads: {torch.get_num_threads()}; config: {config.network} {config.channels}, "
          f"patch {config.patch_size}, batch {config.batch_size}, spacing {config.spacing_mm} mm")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        phantom = PhantomConfig(spacing=tuple(study.phantom.get("spacing", (2.0, 2.0, 2.5))), n_lesions=2)
        write_phantom_cohort(data, args.cases, 0, phantom, quiet=True)
        items, label_map = dataset_items(data)
        for name, generator in (("real only", None),
                                ("with on-the-fly synthesis", HeuristicGenerator.from_preset("liver_metastasis"))):
            start = time.perf_counter()
            train_stage(config, items, Path(tmp) / name.replace(" ", "_"), label_map=label_map,
                        generator=generator, phase="portal", quiet=True)
            seconds = time.perf_counter() - start
            print(f"{name}: {args.steps} steps in {seconds:.1f} s = {args.steps / seconds:.2f} it/s "
                  "(includes caching the cases once)")


if __name__ == "__main__":
    main()
