"""The GPU path, exercised in one go: train, predict, sample and run a study on a GPU, measure it.

    python benchmarks/gpu_check.py --out DIR [--dry-run] [--steps N] [--budget-s S]

On a CUDA GPU, in order (each step's figures go to ``DIR/gpu_check.json`` as soon as it ends):

1. ``cohort``: procedural phantoms with reference lesions (a stand-in for real tumours) and
   healthy ones.
2. ``seg_dynunet_gpu`` and ``seg_dynunet_2d_gpu``: the segmentation presets trained for
   ``--steps`` steps in bf16 with on-the-fly lesion synthesis on 8 DataLoader workers:
   steps/s after warm-up, peak GPU memory and the fraction of loop time spent waiting for data.
3. ``predict``: the 2-D model segments one scan (seconds).
4. ``diffusion_gpu_64`` and ``diffusion_gpu_latent_96``: the diffusion presets trained for
   ``--steps`` steps (per stage in latent mode): steps/s, peak GPU memory; then 8 lesions
   sampled with 50 DDIM steps (seconds per lesion).
5. ``study``: a 2-arm (real, synthetic), 1-seed study with the 2-D preset, end to end.

It stops starting new steps once ``--budget-s`` (default 420 s) has passed and lists them
under ``skipped``, and stops a step still running at ``--limit-s`` (default 470 s, under 8
minutes), recording it under ``errors`` as timed out and writing what it has; a step that fails
is recorded under ``errors`` (its traceback in ``DIR/gpu_check.log``) and the rest go on. Exit
status: 0 when every step ran, 1 when a step failed or was skipped, 2 without a CUDA GPU unless
``--dry-run`` (never a silent CPU fallback).

``--dry-run`` runs the same steps on the CPU at tiny sizes (3 mm phantoms, 2-level networks,
the ``tiny_cpu`` and ``tiny_latent_cpu`` diffusion presets standing in for ``gpu_64`` and
``gpu_latent_96``, 2 DDIM steps), so the script is known to work before a GPU is found.

Keys of ``gpu_check.json``: ``device`` (GPU name or ``cpu``), ``torch``, ``cuda`` (CUDA version
or null), ``dry_run``, ``budget_s``, ``started`` (UTC ISO time), ``wall_s``, ``steps`` (step name
-> figures: ``seconds`` always; segmentation: ``preset``, ``dims``, ``steps``, ``steps_per_s``,
``batch_size``, ``num_workers``, ``mixed_precision``, ``data_wait_fraction``,
``peak_gpu_memory_gib``; predict: ``scan_shape``; diffusion: ``preset``, ``mode``,
``steps_per_s`` per stage, ``peak_gpu_memory_gib``, ``sample_s_per_lesion``, ``ddim_steps``;
study: ``arms``, ``dice_tumor``, ``dice_organ``), ``errors`` (step -> message), ``skipped``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

SEG_PRESETS = ("dynunet_gpu", "dynunet_2d_gpu")
DIFFUSION_PRESETS = {"gpu_64": "tiny_cpu", "gpu_latent_96": "tiny_latent_cpu"}  # GPU preset -> dry-run stand-in
WARM_UP = 3


class TimeUp(BaseException):
    """Raised in the running step when ``--limit-s`` is reached (a BaseException, so that no step
    swallows it)."""


def _time_up(signum, frame):  # noqa: ARG001 - a signal handler's signature
    raise TimeUp()


class Check:
    """The run's settings, its report and the files it writes."""

    def __init__(self, out: Path, dry_run: bool, steps: int, budget_s: float) -> None:
        self.out, self.dry_run, self.steps, self.budget_s = out, dry_run, steps, budget_s
        self.gpu = torch.cuda.is_available() and not dry_run
        self.device = "cuda" if self.gpu else "cpu"
        self.start = time.perf_counter()
        self.report: dict[str, Any] = {
            "device": torch.cuda.get_device_name(0) if self.gpu else "cpu",
            "torch": torch.__version__, "cuda": torch.version.cuda, "dry_run": dry_run, "budget_s": budget_s,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_s": 0.0, "steps": {}, "errors": {}, "skipped": []}
        self.log = logging.getLogger("gpu_check")

    def save(self) -> None:
        self.report["wall_s"] = round(time.perf_counter() - self.start, 1)
        tmp = self.out / ".gpu_check.json.tmp"
        tmp.write_text(json.dumps(self.report, indent=2) + "\n")
        tmp.replace(self.out / "gpu_check.json")

    def peak_gib(self) -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if self.gpu else None

    def reset_peak(self) -> None:
        if self.gpu:
            torch.cuda.reset_peak_memory_stats()


def _rate(rows: list[dict[str, str]], time_key: str) -> float | None:
    """Steps per second after the warm-up steps, from a training CSV log."""
    if len(rows) <= WARM_UP:
        return None
    first, last = rows[WARM_UP - 1], rows[-1]
    seconds = float(last[time_key]) - float(first[time_key])
    return round((len(rows) - WARM_UP) / seconds, 3) if seconds > 0 else None


def step_cohort(check: Check) -> dict[str, Any]:
    from synthtumor.phantom import PhantomConfig
    from synthtumor.phantom.cohort import write_phantom_cohort

    spacing = (3.0, 3.0, 3.0) if check.dry_run else (1.5, 1.5, 2.0)
    n = 2 if check.dry_run else 4
    base = PhantomConfig(spacing=spacing)
    write_phantom_cohort(check.out / "data" / "annotated", n, 0, replace(base, n_lesions=3), quiet=True)
    write_phantom_cohort(check.out / "data" / "healthy", n, 1000, base, quiet=True, prefix="healthy")
    return {"cases": n, "spacing_mm": list(spacing)}


def _seg_config(check: Check, preset: str):
    from synthtumor.train_seg.config import TrainConfig

    config = TrainConfig.load(preset)
    steps = check.steps + WARM_UP
    config = replace(config, iterations=steps, checkpoint_every=steps)
    if check.dry_run:
        patch = (32, 32) if config.spatial_dims == 2 else (32, 32, 32)
        config = replace(config, channels=(8, 16, 32), patch_size=patch, spacing_mm=(3.0, 3.0, 3.0), batch_size=2,
                         num_workers=0, mixed_precision="no")
    else:
        config = replace(config, num_workers=8, mixed_precision="bf16")
    return config


def step_segmentation(check: Check, preset: str) -> dict[str, Any]:
    from synthtumor.generators import HeuristicGenerator
    from synthtumor.train_seg.data import dataset_items
    from synthtumor.train_seg.trainer import train_stage

    config = _seg_config(check, preset)
    items, label_map = dataset_items(check.out / "data" / "annotated")
    run = check.out / "runs" / preset
    from synthtumor.io.case_io import write_json_atomic

    run.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"strategy": "end_to_end", "arm": "gpu_check", "cases": [i["case_id"] for i in items]},
                      run / "run.json")
    timings: dict[str, float] = {}
    check.reset_peak()
    train_stage(config, items, run / "model", label_map=label_map, phase="portal", quiet=True, timings=timings,
                generator=HeuristicGenerator.from_preset("liver_metastasis"), synthesis_prob=0.5)
    with open(run / "model" / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"preset": preset, "dims": config.dims, "steps": len(rows), "steps_per_s": _rate(rows, "seconds"),
            "batch_size": config.batch_size, "num_workers": config.num_workers,
            "mixed_precision": config.mixed_precision if check.gpu else "no",
            "data_wait_fraction": round(timings.get("data_wait_s", 0.0) / max(timings.get("loop_s", 0.0), 1e-9), 3),
            "peak_gpu_memory_gib": check.peak_gib()}


def step_predict(check: Check) -> dict[str, Any]:
    from synthtumor.train_seg.data import dataset_items
    from synthtumor.train_seg.predict import predict_items

    items, _ = dataset_items(check.out / "data" / "annotated")
    written = predict_items(check.out / "runs" / SEG_PRESETS[1], items[:1], check.out / "predictions", quiet=True)
    import nibabel as nib

    return {"scan_shape": list(nib.load(str(written[0])).shape)}


def step_diffusion(check: Check, preset: str) -> dict[str, Any]:
    from synthtumor.generators.diffusion.config import DiffusionConfig
    from synthtumor.generators.diffusion.data import build_training_cubes
    from synthtumor.generators.diffusion.generator import DiffusionGenerator
    from synthtumor.generators.diffusion.train import train_diffusion
    from synthtumor.io import load_dataset

    name = DIFFUSION_PRESETS[preset] if check.dry_run else preset
    steps = check.steps + WARM_UP
    config = DiffusionConfig.from_preset(name).replace_train(max_steps=steps, checkpoint_every=steps,
                                                             val_every=10**6)
    if config.mode == "latent":
        config = config.replace_latent(autoencoder_steps=steps)
    train, val = build_training_cubes(load_dataset(check.out / "data" / "annotated"), config, quiet=True)
    run = check.out / "runs" / f"diffusion_{preset}"
    check.reset_peak()
    train_diffusion(train, val, config, run, quiet=True)
    peak = check.peak_gib()
    with open(run / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rates = {stage: _rate([r for r in rows if r["stage"] == stage], "elapsed_s")
             for stage in ("autoencoder", "denoiser") if any(r["stage"] == stage for r in rows)}
    ddim = 2 if check.dry_run else 50
    generator = DiffusionGenerator.from_checkpoint(run, steps=ddim, device=check.device)
    pool = train if len(train) else val
    count = min(8, len(pool))
    known, masks = pool.context[:count], pool.mask[:count]
    generator.denoise(known[:1], masks[:1], [0], [0])  # loads the weights
    start = time.perf_counter()
    generator.denoise(known, masks, list(range(count)), [0] * count)
    per_lesion = (time.perf_counter() - start) / max(count, 1)
    return {"preset": name, "mode": config.mode, "steps_per_s": rates, "peak_gpu_memory_gib": peak,
            "lesions_sampled": count, "ddim_steps": ddim, "sample_s_per_lesion": round(per_lesion, 3)}


def step_study(check: Check) -> dict[str, Any]:
    from synthtumor.train_seg.study import run_study
    from synthtumor.train_seg.study_config import ArmSpec, StudyConfig

    overrides = {k: v for k, v in _seg_config(check, SEG_PRESETS[1]).to_dict().items()
                 if k in ("iterations", "checkpoint_every", "channels", "patch_size", "spacing_mm", "batch_size",
                          "num_workers", "mixed_precision")}
    config = StudyConfig(name="gpu_check", train=SEG_PRESETS[1], train_overrides=overrides, n_test=1,
                         scarcity=(1,), seeds=(0,), arms=(ArmSpec("real"), ArmSpec("synthetic")),
                         annotated=str(check.out / "data" / "annotated"),
                         healthy=str(check.out / "data" / "healthy"))
    run_study(config, check.out / "study", quiet=True)
    with open(check.out / "study" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"arms": sorted({r["arm"] for r in rows}),
            "dice_tumor": {r["arm"]: float(r["dice_tumor"]) for r in rows},
            "dice_organ": {r["arm"]: float(r["dice_organ"]) for r in rows}}


def plan(check: Check) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The steps in order: (name, call)."""
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [("cohort", lambda: step_cohort(check))]
    steps += [(f"seg_{p}", lambda p=p: step_segmentation(check, p)) for p in SEG_PRESETS]
    steps.append(("predict", lambda: step_predict(check)))
    steps += [(f"diffusion_{p}", lambda p=p: step_diffusion(check, p)) for p in DIFFUSION_PRESETS]
    steps.append(("study", lambda: step_study(check)))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json, the log and the runs")
    parser.add_argument("--dry-run", action="store_true", help="the same steps at tiny sizes on the CPU")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed training steps per model after 3 warm-up steps (default 50; 2 with --dry-run)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no step after this many seconds")
    parser.add_argument("--limit-s", type=int, default=470, help="stop a running step at this many seconds")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and not args.dry_run:
        print("gpu_check: no CUDA GPU is visible to torch; this check measures a GPU and does not fall back "
              "to the CPU. Run it on a GPU machine, or add --dry-run to test the script on the CPU.",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    steps = args.steps if args.steps is not None else (2 if args.dry_run else 50)
    check = Check(args.out, args.dry_run, max(1, steps), args.budget_s)
    handler = logging.FileHandler(args.out / "gpu_check.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    check.log.addHandler(handler)
    check.log.setLevel(logging.INFO)
    check.log.info("device %s, torch %s, CUDA %s, dry run %s", check.report["device"], torch.__version__,
                   torch.version.cuda, args.dry_run)
    if hasattr(signal, "SIGALRM") and args.limit_s > 0:
        signal.signal(signal.SIGALRM, _time_up)
        signal.alarm(args.limit_s)
    for name, call in plan(check):
        if time.perf_counter() - check.start > args.budget_s:
            check.report["skipped"].append(name)
            check.log.info("%s: skipped (budget of %.0f s spent)", name, args.budget_s)
            continue
        began = time.perf_counter()
        try:
            figures = call()
            check.report["steps"][name] = {**figures, "seconds": round(time.perf_counter() - began, 2)}
            check.log.info("%s: %s", name, json.dumps(check.report["steps"][name]))
        except TimeUp:
            check.report["errors"][name] = f"timed out at the {args.limit_s} s limit"
            check.report["skipped"] += [n for n, _ in plan(check) if n not in check.report["steps"] and n != name]
            check.log.error("%s: timed out at %d s; the remaining steps are skipped", name, args.limit_s)
            print(f"{name}: timed out", flush=True)
            break
        except Exception as exc:  # record, go on with the other steps
            check.report["errors"][name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            check.log.error("%s failed:\n%s", name, traceback.format_exc())
        print(f"{name}: {check.report['steps'].get(name) or check.report['errors'].get(name)}", flush=True)
        check.save()
    if hasattr(signal, "SIGALRM"):
        signal.alarm(0)
    check.save()
    print(f"report: {args.out / 'gpu_check.json'}")
    return 0 if not check.report["errors"] and not check.report["skipped"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
