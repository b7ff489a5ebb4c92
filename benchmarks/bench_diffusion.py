"""Diffusion generator speed: ``tiny_cpu`` and ``tiny_latent_cpu`` on the CPU, GPU presets on a GPU.

For each ``--preset`` prints: lesion-cube extraction time, training optimizer steps per second
(batch of the preset, fp32 on the CPU, ``--threads`` torch threads; in latent mode the
autoencoder stage and the denoiser stage separately, ``--steps`` of each), and seconds per
sampled lesion for DDIM 50 and 10 steps (lesions batched as the preset says, and one at a time),
plus the time of a whole ``render_result`` of one case. Data: procedural phantoms with reference
lesions (a stand-in for real tumours; ``--data`` takes any dataset synthtumor reads instead).
``--full`` trains the whole preset (``train.max_steps``, and ``latent.autoencoder_steps`` first in
latent mode) and reports its wall time, then writes a PNG of inpainted validation cubes (input |
mask | sample, centre slices) into ``--out``. GPU presets (``gpu_64``, ``gpu_latent_96``) run
only where torch sees CUDA; elsewhere they are skipped with a note.

    python benchmarks/bench_diffusion.py [--preset tiny_cpu --preset tiny_latent_cpu] [--steps 40]
        [--threads 1] [--full --out RUN]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from synthtumor.generators import HeuristicGenerator  # noqa: E402
from synthtumor.generators.diffusion.config import DiffusionConfig  # noqa: E402
from synthtumor.generators.diffusion.data import LesionCubes, build_training_cubes, cubes_from_case  # noqa: E402
from synthtumor.generators.diffusion.generator import DiffusionGenerator  # noqa: E402
from synthtumor.generators.diffusion.train import train_diffusion  # noqa: E402


def phantom_cubes(config: DiffusionConfig, n_cases: int) -> tuple[LesionCubes, LesionCubes, list]:
    """Cubes from ``n_cases`` 2 mm phantoms with 6 reference lesions each (last case: validation)."""
    from synthtumor.phantom import PhantomConfig, make_phantom, phantom_seed

    cases = [make_phantom(PhantomConfig(spacing=(2.0, 2.0, 2.0), n_lesions=6), phantom_seed(0, i)).case
             for i in range(n_cases)]
    parts = [cubes_from_case(c, config) for c in cases]
    n = config.data.cube_voxels
    return LesionCubes.concat(parts[:-1], n), LesionCubes.concat(parts[-1:], n), cases


def save_mosaic(gen: DiffusionGenerator, val: LesionCubes, path: Path, count: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(count, len(val))
    known = val.context[:count]
    samples = gen.denoise(known, val.mask[:count], list(range(count)), list(val.labels[:count]))
    c = val.target.shape[-1] // 2
    fig, axes = plt.subplots(count, 4, figsize=(8, 2 * count), dpi=90, squeeze=False)
    for i in range(count):
        for ax, img, title in zip(axes[i], (val.target[i], known[i], val.mask[i], samples[i]),
                                  ("real", "context", "mask", "generated")):
            ax.imshow(img[:, :, c].T, cmap="gray", vmin=-1 if title != "mask" else 0, vmax=1, origin="lower")
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_GPU_PRESETS = ("gpu_64", "gpu_latent_96")


def bench_preset(name: str, args: argparse.Namespace, device: str) -> None:
    """Time one preset (see module docstring)."""
    import csv

    config = DiffusionConfig.from_preset(name)
    if not args.full:
        config = config.replace_train(max_steps=args.steps, checkpoint_every=10**6, val_every=10**6)
        if config.mode == "latent":
            config = config.replace_latent(autoencoder_steps=args.steps)
    print(f"== {name} ({config.mode} mode, {config.data.cube_voxels}^3 cubes, {device})")
    t0 = time.perf_counter()
    if args.data is not None:
        from synthtumor import load_dataset

        train, val = build_training_cubes(load_dataset(args.data), config, quiet=True)
        cases = []
    else:
        train, val, cases = phantom_cubes(config, args.cases)
    print(f"cubes: {len(train)} train / {len(val)} validation lesions in {time.perf_counter() - t0:.1f} s "
          f"(cube spacing {np.min(train.spacing_mm):.1f}-{np.max(train.spacing_mm):.1f} mm)")

    with tempfile.TemporaryDirectory() as tmp:
        run = args.out / name if args.out is not None else Path(tmp) / "run"
        t0 = time.perf_counter()
        train_diffusion(train, val, config, run, quiet=not args.full)
        wall = time.perf_counter() - t0
        rows = list(csv.DictReader((run / "log.csv").open()))
        for stage in ("autoencoder", "denoiser"):
            part = [r for r in rows if r["stage"] == stage]
            if len(part) < 2:
                continue
            rate = (len(part) - 1) / (float(part[-1]["elapsed_s"]) - float(part[0]["elapsed_s"]))
            print(f"training {stage}: {rate:.2f} optimizer steps/s (batch {config.train.batch_size}, "
                  f"{args.threads} thread(s), {'fp32 CPU' if device == 'cpu' else device}); "
                  f"loss {part[0]['loss']} -> {part[-1]['loss']}")
        print(f"training wall time: {len(rows)} steps in {wall:.1f} s incl. start-up and checkpoints")
        if args.full:
            print(f"full {name} training: {len(rows)} steps in {wall / 60:.1f} min; "
                  f"validation {rows[-1]['val_loss']}")

        n = config.data.cube_voxels
        lesions = min(8, len(val) + len(train))
        pool = LesionCubes.concat([val, train], n)
        known, masks = pool.context[:lesions], pool.mask[:lesions]
        for steps in (50, 10):
            gen = DiffusionGenerator.from_checkpoint(run, steps=steps, device=device)
            gen.denoise(known[:1], masks[:1], [0], [0])  # load weights
            t0 = time.perf_counter()
            gen.denoise(known, masks, list(range(lesions)), [0] * lesions)
            batched = (time.perf_counter() - t0) / lesions
            t0 = time.perf_counter()
            gen.denoise(known[:1], masks[:1], [0], [0])
            single = time.perf_counter() - t0
            print(f"sampling DDIM {steps:2d} steps: {batched:.2f} s/lesion in batches of "
                  f"{config.sample.batch_size}, {single:.2f} s for one lesion alone")
        if cases:
            case = cases[0].replace(tumor=None)
            placement = HeuristicGenerator.from_preset("liver_metastasis")
            gen = DiffusionGenerator(run, placement, steps=10, device=device)
            prepared = gen.prepare(case)
            specs = gen.sample(prepared, np.random.default_rng(0))
            t0 = time.perf_counter()
            gen.render_result(prepared, specs)
            print(f"render_result, one {case.shape} case, {len(specs)} lesions, DDIM 10: "
                  f"{time.perf_counter() - t0:.2f} s")
        if args.full and args.out is not None and len(val):
            save_mosaic(DiffusionGenerator.from_checkpoint(run, device=device), val, run / "samples.png")
            print(f"samples: {run / 'samples.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", default=None,
                        help="preset to time (repeatable; default tiny_cpu; gpu_* only where CUDA exists)")
    parser.add_argument("--steps", type=int, default=40, help="training steps to time, per stage (default 40)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cases", type=int, default=8, help="phantom cases (6 lesions each; default 8)")
    parser.add_argument("--data", type=Path, default=None, help="a dataset folder instead of phantoms")
    parser.add_argument("--full", action="store_true", help="train the whole preset and time it")
    parser.add_argument("--out", type=Path, default=None, help="parent of the run folders (default: temporary)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    for name in args.preset or ["tiny_cpu"]:
        if name in _GPU_PRESETS and not cuda:
            print(f"== {name}: skipped, it needs a CUDA GPU (torch sees none)")
            continue
        bench_preset(name, args, "cuda" if cuda and name in _GPU_PRESETS else "cpu")


if __name__ == "__main__":
    main()
