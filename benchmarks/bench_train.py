"""Training steps per second on this machine's CPU in each training mode (2-D, 2.5-D, 3-D), with
and without on-the-fly synthesis, on phantom cases.

    python benchmarks/bench_train.py [--steps 60] [--cases 3]

Modes: ``tiny_cpu`` as shipped (a 2.5-D DynUNet with plain blocks, one neighbour per side), the
same with ``dims: 2``, and the same network in 3-D at a CPU's size (8-16-32 channels,
64 x 64 x 32 patches, batch 2). Each
line times ``--steps`` optimiser steps after the cases are cached and 5 warm-up steps are done
(the first steps of a process pay for kernel set-up); all modes run side by side in one process,
so their ratios are what to compare (this machine moves 20-40 % between runs).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from synthtumor.generators import HeuristicGenerator
from synthtumor.phantom import PhantomConfig
from synthtumor.phantom.cohort import write_phantom_cohort
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items
from synthtumor.train_seg.trainer import train_stage

WARM_UP = 5


def modes() -> dict[str, TrainConfig]:
    """The configurations timed: name -> config."""
    shipped = TrainConfig.load("tiny_cpu")
    return {
        "2.5-D (tiny_cpu)": shipped,
        "2-D": replace(shipped, dims=2.0),
        "3-D": replace(shipped, dims=3.0, channels=(8, 16, 32), patch_size=(64, 64, 32), batch_size=2),
    }


def steps_per_second(log: Path) -> float:
    """Steps per second after the warm-up, from the trainer's CSV log (column ``seconds``)."""
    with open(log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, last = rows[WARM_UP - 1], rows[-1]
    return (int(last["step"]) - int(first["step"])) / max(float(last["seconds"]) - float(first["seconds"]), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per line (after 5 warm-up steps)")
    parser.add_argument("--cases", type=int, default=3, help="phantom cases to train on")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; phantoms at 2 x 2 x 2.5 mm, "
          f"{args.cases} cases; {args.steps} steps timed per line")
    print(f"{'mode':18s} {'synthesis':10s} {'patch':14s} {'batch':>5s} {'steps/s':>8s} {'samples/s':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_phantom_cohort(data, args.cases, 0, PhantomConfig(spacing=(2.0, 2.0, 2.5), n_lesions=2), quiet=True)
        items, label_map = dataset_items(data)
        for name, config in modes().items():
            config = replace(config, iterations=args.steps + WARM_UP, checkpoint_every=args.steps + WARM_UP)
            for synthesis in (False, True):
                generator = HeuristicGenerator.from_preset("liver_metastasis") if synthesis else None
                out = Path(tmp) / f"{name}-{synthesis}".replace(" ", "_").replace("(", "").replace(")", "")
                train_stage(config, items, out, label_map=label_map, generator=generator, phase="portal", quiet=True)
                rate = steps_per_second(out / "log.csv")
                patch = "x".join(str(p) for p in config.slab_size)
                print(f"{name:18s} {'on' if synthesis else 'off':10s} {patch:14s} {config.batch_size:5d} "
                      f"{rate:8.2f} {rate * config.batch_size:10.1f}", flush=True)


if __name__ == "__main__":
    main()
