"""The ``synthtumor`` command.

Subcommands: ``phantom`` (write a phantom cohort), ``info`` (what a scan or dataset holds),
``generate`` (an augmented dataset with synthetic lesions), ``evaluate`` (metrics of predictions
against references) and ``demo`` (the main job on the embedded default). Errors a user can cause print one line naming
the case and the fix, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from synthtumor import __version__
from synthtumor.commands.environment import command_environment
from synthtumor.errors import ConfigError, SynthTumorError

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local process pool, or Ray (the optional extra dist) on this machine or a cluster")
    p.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                   help="a running Ray cluster (default: start a local instance for the run)")
    p.add_argument("--cpus-per-task", type=float, default=1.0, help="Ray: CPUs per worker (default 1)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="Ray: GPUs per worker (default 0)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts of a failing case (default 2)")
    p.add_argument("--max-in-flight", type=int, default=None, help="Ray: cases in flight at most (default: workers)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (a plain rerun does too)")


def _add_phantom_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="run seed; case i derives from (seed, i) (default 0)")
    p.add_argument("--phase", default=None, choices=["native", "arterial", "portal", "delayed"],
                   help="contrast phase (default: the config's, portal)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                   help="voxel size in mm (default 1.5 1.5 2.0)")
    p.add_argument("--fov", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                   help="field of view in mm (default 360 280 220)")
    p.add_argument("--config", type=Path, default=None, help="phantom config YAML (default configs/phantom/default.yaml)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty output folder that is not this command's own run "
                   "(same-named files are replaced; nothing is deleted)")


def _add_spacing_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spacing-range", type=float, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="accepted voxel sizes in mm (default 0.1 20: other sizes are refused as broken headers)")


def _add_input_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--input`` (a dataset folder, one case folder or a CSV list) or ``--image`` / ``--label`` (one scan)."""
    p.add_argument("--input", type=Path, default=None,
                   help=f"{what}: a dataset folder of any layout synthtumor reads, one case folder "
                   "(e.g. TotalSegmentator's ct.nii.gz + segmentations/), or a CSV list case_id,image,label[,vessels]")
    p.add_argument("--image", type=Path, default=None, metavar="CT",
                   help="one scan instead of --input: a NIfTI file or DICOM folder")
    p.add_argument("--label", type=Path, default=None, metavar="SEG",
                   help="with --image: its multi-label NIfTI file or per-structure mask folder")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``synthtumor`` command."""
    parser = argparse.ArgumentParser(
        prog="synthtumor",
        description="Realistic synthetic tumours in healthy CT scans.",
    )
    parser.add_argument("--version", action="version", version=f"synthtumor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("phantom", help="write a cohort of procedural abdominal CT phantoms",
                       description="Write procedural abdominal CT phantoms (NOT patient data) as a "
                       "case-folder dataset: image, label (0/1/2), vessels, anatomy, dataset.json.")
    p.add_argument("out", type=Path, help="output dataset folder")
    p.add_argument("--n", type=int, default=1, help="number of cases (default 1)")
    p.add_argument("--lesions", type=int, default=None,
                   help="reference lesions per case, a stand-in for real tumours (default 0)")
    p.add_argument("--preview", action="store_true", help="write a PNG preview per case")
    _add_phantom_options(p)
    _add_overwrite(p)

    p = sub.add_parser("info", help="summarise a scan, a DICOM folder or a dataset",
                       description="Print shape, spacing, orientation, volumes and organ HU for "
                       "a NIfTI file, a DICOM series folder, a case folder, a whole dataset (any layout, "
                       "which it names) or a CSV list; or one --image with its --label.")
    p.add_argument("path", type=Path, nargs="?", default=None)
    p.add_argument("--image", type=Path, default=None, metavar="CT", help="one scan instead of PATH")
    p.add_argument("--label", type=Path, default=None, metavar="SEG",
                   help="with --image: its multi-label NIfTI file or per-structure mask folder")
    p.add_argument("--label-map", default=None,
                   help="label-map YAML or preset name (e.g. totalsegmentator)")
    p.add_argument("--phase", default=None, help="contrast phase of the scans")
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    _add_spacing_range(p)
    p.add_argument("--no-ct-check", action="store_true", help="do not refuse non-HU intensities")

    p = sub.add_parser("generate", help="write an augmented dataset with synthetic lesions",
                       description="Put synthetic lesions into every case of a dataset (any layout "
                       "synthtumor reads) and write images, labels (2 = every tumour), a manifest "
                       "of every lesion, and optional previews.")
    _add_input_options(p, "input dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name")
    p.add_argument("--phase", default=None, help="contrast phase of the input scans")
    p.add_argument("--generator", default="heuristic", choices=["heuristic", "diffusion"],
                   help="lesion generator; diffusion places and shapes lesions with --preset and fills "
                   "them with the trained --checkpoint")
    p.add_argument("--checkpoint", type=Path, default=None, metavar="RUN",
                   help="diffusion run folder written by train-diffusion (with --generator diffusion)")
    p.add_argument("--ddim-steps", type=int, default=None,
                   help="DDIM steps per lesion (default: the run's sample.ddim_steps)")
    p.add_argument("--preset", default="liver_metastasis",
                   help="generator preset in configs/generators/ or a YAML path (default liver_metastasis)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset value, e.g. --set placement.vessel_clearance_mm=4 (repeatable)")
    p.add_argument("--per-case", type=int, default=1, help="synthetic cases per input case (default 1)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes, or Ray actors (default 1; Ray: all the cluster fits); outputs do not depend on it")
    _add_backend_options(p)
    p.add_argument("--format", default="cases", choices=["cases", "nnunet", "decathlon"], help="output layout")
    p.add_argument("--dataset-id", type=int, default=None, help="nnU-Net dataset id (501) / Decathlon task (90)")
    p.add_argument("--dataset-name", default="SynthTumor", help="nnU-Net / Decathlon dataset name")
    p.add_argument("--replay", type=Path, default=None, metavar="MANIFEST",
                   help="render the cases of a manifest.jsonl again from its recorded specs")
    p.add_argument("--preview", action="store_true", help="write a PNG per output case")
    _add_overwrite(p)
    _add_spacing_range(p)
    p.add_argument("--no-ct-check", action="store_true", help="do not refuse non-HU intensities")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("evaluate", help="segmentation metrics and lesion detection by size",
                       description="Compare predicted labels with reference labels case by case "
                       "(any layout, or a folder of <case_id>.nii.gz label files) and write "
                       "metrics.csv, lesions.csv and summary.md.")
    p.add_argument("--pred", type=Path, required=True, help="predictions: a dataset or a folder of label files")
    p.add_argument("--ref", type=Path, required=True, help="reference dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name, for both folders")
    p.add_argument("--nsd-tolerance", type=float, default=2.0, metavar="MM", help="NSD tolerance in mm (default 2)")
    p.add_argument("--iou-threshold", type=float, default=0.1, help="lesion match IoU threshold (default 0.1)")
    p.add_argument("--size-bins", type=float, nargs="+", default=None, metavar="MM",
                   help="equivalent-radius bin edges in mm (default 0 5 10 inf)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no printed summary")
    _add_overwrite(p)
    _add_spacing_range(p)

    p = sub.add_parser("realism", help="how real do synthetic lesions look? (feature statistics, classifier AUC)",
                       description="Measure every lesion of a real and a synthetic dataset (size, shape, "
                       "contrast, texture, edge), compare the distributions and report the "
                       "cross-validated AUC of a classifier telling them apart (0.5: indistinguishable).")
    p.add_argument("--real", type=Path, required=True, help="dataset with real tumours")
    p.add_argument("--synthetic", type=Path, required=True, help="dataset with synthetic tumours")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name of the real dataset")
    p.add_argument("--synthetic-label-map", default=None, help="label map of the synthetic dataset (default: its own)")
    p.add_argument("--phase", default=None, help="keep only cases of this contrast phase")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation and bootstrap")
    p.add_argument("--min-volume", type=float, default=0.05, metavar="ML", help="skip smaller lesions (mL)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the AUC")
    p.add_argument("--permutations", type=int, default=200, help="label permutations for the chance band")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no printed AUC")
    _add_overwrite(p)
    _add_spacing_range(p)

    p = sub.add_parser("fit-preset", help="fit a generator preset to a dataset's annotated lesions",
                       description="Measure every annotated lesion of a dataset, fit the laws of a generator "
                       "preset (size, count, shape, contrast, texture, edge, placement) to them, calibrate by "
                       "simulation, and write the preset as YAML for generate --preset.")
    p.add_argument("--real", type=Path, required=True, help="dataset whose labels mark tumours")
    p.add_argument("--out", type=Path, required=True, help="the preset YAML to write")
    p.add_argument("--base", default="liver_metastasis", help="preset whose choices are kept where the data cannot tell")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name")
    p.add_argument("--phase", default=None, help="contrast phase of the scans (cases recorded in another are left out)")
    p.add_argument("--name", default=None, help="the preset's name (default fitted_<base>)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration draws")
    p.add_argument("--rounds", type=int, default=6, help="calibration rounds (0: laws as measured)")
    p.add_argument("--min-volume", type=float, default=0.05, metavar="ML", help="skip smaller lesions (mL)")
    p.add_argument("--no-ct-check", action="store_true", help="do not refuse non-HU intensities")
    p.add_argument("--quiet", action="store_true", help="no progress, no summary")
    _add_overwrite(p)

    p = sub.add_parser("train-diffusion", help="train the diffusion lesion generator on scans with tumours",
                       description="Cut a cube around every tumour of a dataset (any layout synthtumor "
                       "reads), split by scan, and train the diffusion lesion generator; writes "
                       "checkpoints, log.csv, loss_curve.png and config.json into --out.")
    p.add_argument("--data", type=Path, required=True, help="dataset folder whose labels mark tumours")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--config", default=None,
                   help="preset in configs/diffusion/ (tiny_cpu, gpu_64, tiny_latent_cpu, gpu_latent_96) or a YAML path "
                   "(default tiny_cpu; with --resume, the run's own)")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name")
    p.add_argument("--phase", default=None, help="contrast phase of the scans")
    p.add_argument("--max-steps", type=int, default=None,
                   help="denoiser optimizer steps (overrides train.max_steps); in latent mode it also caps "
                   "the autoencoder stage at min(latent.autoencoder_steps, N) steps")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    _add_overwrite(p)
    _add_spacing_range(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("train-seg", help="train a segmentation model (accelerate; CPU or GPU)",
                       description="Train a MONAI segmentation network on a dataset, optionally with "
                       "on-the-fly synthetic lesions; --val predicts and evaluates held-out cases.")
    p.add_argument("--train", type=Path, required=True, help="training dataset")
    p.add_argument("--val", type=Path, default=None, help="validation dataset (predicted and evaluated at the end)")
    p.add_argument("--config", default="tiny_cpu", help="configs/train/ preset or YAML path (default tiny_cpu)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name")
    p.add_argument("--phase", default=None, help="contrast phase of the scans")
    p.add_argument("--synthetic", default=None, metavar="PRESET",
                   help="add on-the-fly heuristic lesions from this generator preset")
    p.add_argument("--synthesis-prob", type=float, default=1.0, help="probability of synthetic lesions per sample")
    p.add_argument("--max-steps", type=int, default=None, help="override the config's iterations")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_overwrite(p)
    _add_spacing_range(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("predict", help="segment scans with a trained run",
                       description="Write <case_id>.nii.gz labels (0/1/2) in each input's own geometry.")
    p.add_argument("--model", type=Path, required=True, help="run folder of `synthtumor train-seg`")
    _add_input_options(p, "scans to segment (labels not needed)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name of the input dataset")
    _add_overwrite(p)
    _add_spacing_range(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("study", help="real vs synthetic vs mixed training under data scarcity",
                       description="Run (or resume) a study declared in YAML: arms x numbers of real "
                       "scans x seeds; writes splits.json, results.csv, report.md and its plots.")
    p.add_argument("--config", required=True, help="configs/study/ name or YAML path")
    p.add_argument("--out", type=Path, required=True, help="study folder")
    _add_overwrite(p)
    _add_spacing_range(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("demo", help="run the main job on the embedded phantom (no data needed)",
                       description="Build a small phantom cohort with reference lesions and "
                       "previews, then run a small real-vs-synthetic-vs-mixed study on phantoms "
                       "(configs/study/demo.yaml) and print its table; a few minutes on a CPU.")
    p.add_argument("--out", type=Path, default=Path("synthtumor-demo"), help="output folder")
    p.add_argument("--n", type=int, default=3, help="number of phantom cases (default 3)")
    p.add_argument("--no-study", action="store_true", help="stop after the phantom cohort")
    _add_overwrite(p)
    _add_phantom_options(p)
    return parser


def _phantom_config(args: argparse.Namespace, lesions: int | None):
    from dataclasses import replace

    from synthtumor.config_paths import config_dir
    from synthtumor.phantom import PhantomConfig

    path = args.config or config_dir("phantom") / "default.yaml"
    config = PhantomConfig.from_yaml(path)
    changes = {}
    if args.phase is not None:
        changes["phase"] = args.phase
    if args.spacing is not None:
        changes["spacing"] = tuple(args.spacing)
    if args.fov is not None:
        changes["field_of_view"] = tuple(args.fov)
    if lesions is not None:
        changes["n_lesions"] = lesions
    return replace(config, **changes) if changes else config


def _run_phantom(args: argparse.Namespace) -> int:
    from synthtumor.commands.info import format_table
    from synthtumor.phantom.cohort import write_phantom_cohort

    config = _phantom_config(args, args.lesions)
    rows = write_phantom_cohort(args.out, args.n, args.seed, config, workers=args.workers,
                                preview=args.preview, quiet=args.quiet, overwrite=args.overwrite)
    if not args.quiet:
        print(format_table(rows))
        print(f"wrote {len(rows)} phantom case(s) to {args.out}")
    return 0


def _run_info(args: argparse.Namespace) -> int:
    from synthtumor.commands.info import format_table, open_info_input, summarise_case

    header, cases = open_info_input(args.path, args.image, args.label, args.label_map, phase=args.phase,
                                    expect_ct=not args.no_ct_check)
    if header is not None and not args.json:
        print(header["text"])
    rows = []
    for case in cases:
        row = summarise_case(case)
        if args.json:
            print(json.dumps({**row, **({"layout": header["layout"]} if header else {})}), flush=True)
        rows.append(row)
    if not args.json:
        print(format_table(rows))
    return 0


def parse_overrides(items: list[str]) -> dict:
    """``["placement.vessel_clearance_mm=4"]`` -> ``{"placement": {"vessel_clearance_mm": 4}}``."""
    import yaml

    from synthtumor.errors import ConfigError

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE.", fix="write e.g. --set placement.min_gap_mm=3")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


def _run_generate(args: argparse.Namespace) -> int:
    from synthtumor.commands.generate import run_generate, run_replay
    from synthtumor.commands.generate_backends import Execution

    common = dict(label_map=args.label_map, phase=args.phase, workers=args.workers, format=args.format,
                  preview=args.preview, quiet=args.quiet, expect_ct=not args.no_ct_check,
                  dataset_id=args.dataset_id, dataset_name=args.dataset_name,
                  checkpoint=args.checkpoint, ddim_steps=args.ddim_steps, overwrite=args.overwrite)
    execution = Execution(args.backend, args.workers, args.retries, args.max_in_flight, args.ray_address,
                          args.cpus_per_task, args.gpus_per_task)
    if args.replay is not None:
        if args.backend != "local":
            raise ConfigError("--replay runs on the local pool only.", fix="leave --backend out.")
        manifest = run_replay(args.replay, args.input, args.out, image=args.image, label=args.label, **common)
    else:
        manifest = run_generate(args.input, args.out, preset=args.preset, overrides=parse_overrides(args.overrides),
                                per_case=args.per_case, seed=args.seed, generator=args.generator, image=args.image,
                                label=args.label, execution=execution, resume=args.resume, **common)
    if not args.quiet:
        print(f"wrote {sum(1 for _ in open(manifest))} case(s); manifest: {manifest}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from synthtumor.metrics.dataset_eval import run_evaluate

    kwargs = {}
    if args.size_bins is not None:
        kwargs["size_bins_mm"] = tuple(args.size_bins)
    run_evaluate(args.pred, args.ref, args.out, label_map=args.label_map, nsd_tolerance_mm=args.nsd_tolerance,
                 iou_threshold=args.iou_threshold, workers=args.workers, quiet=args.quiet, overwrite=args.overwrite,
                 **kwargs)
    return 0


def _run_realism(args: argparse.Namespace) -> int:
    from synthtumor.commands.realism import run_realism

    run_realism(args.real, args.synthetic, args.out, label_map=args.label_map,
                synthetic_label_map=args.synthetic_label_map, phase=args.phase, seed=args.seed,
                workers=args.workers, quiet=args.quiet, min_volume_ml=args.min_volume, folds=args.folds,
                n_resamples=args.resamples, n_permutations=args.permutations, overwrite=args.overwrite)
    return 0


def _run_fit_preset(args: argparse.Namespace) -> int:
    from synthtumor.commands.fit_preset import run_fit_preset

    run_fit_preset(args.real, args.out, base=args.base, label_map=args.label_map, phase=args.phase, name=args.name,
                   seed=args.seed, rounds=args.rounds, min_volume_ml=args.min_volume,
                   expect_ct=not args.no_ct_check, quiet=args.quiet, overwrite=args.overwrite)
    return 0


def _run_train_diffusion(args: argparse.Namespace) -> int:
    from synthtumor.commands.train_diffusion import run_train_diffusion

    config = args.config if args.config is not None else (None if args.resume else "tiny_cpu")
    run = run_train_diffusion(args.data, args.out, config=config, label_map=args.label_map, phase=args.phase,
                              max_steps=args.max_steps, resume=args.resume, quiet=args.quiet,
                              overwrite=args.overwrite)
    if not args.quiet:
        print(f"diffusion run: {run}; use it with: synthtumor generate --generator diffusion --checkpoint {run}")
    return 0


def _run_train_seg(args: argparse.Namespace) -> int:
    from synthtumor.commands.train_seg import run_train_seg

    run = run_train_seg(args.train, args.out, config=args.config, val=args.val, label_map=args.label_map,
                        phase=args.phase, synthetic_preset=args.synthetic, synthesis_prob=args.synthesis_prob,
                        max_steps=args.max_steps, resume=args.resume, quiet=args.quiet,
                        overwrite=args.overwrite)
    if not args.quiet:
        print(f"trained run: {run}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from synthtumor.train_seg.predict import run_predict

    written = run_predict(args.model, args.input, args.out, label_map=args.label_map, quiet=args.quiet,
                          overwrite=args.overwrite, image=args.image, label=args.label)
    if not args.quiet:
        print(f"wrote {len(written)} prediction(s) to {args.out}")
    return 0


def _run_study(args: argparse.Namespace) -> int:
    from synthtumor.train_seg.study import run_study

    report = run_study(args.config, args.out, quiet=args.quiet, overwrite=args.overwrite)
    if not args.quiet:
        print(report.read_text())
        print(f"report: {report}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from synthtumor.commands.demo import run_demo

    config = _phantom_config(args, lesions=None)
    run_demo(args.out, n=args.n, seed=args.seed, config=config, workers=args.workers, quiet=args.quiet,
             study=not args.no_study, overwrite=args.overwrite)
    return 0


_COMMANDS = {"phantom": _run_phantom, "info": _run_info, "generate": _run_generate,
             "evaluate": _run_evaluate, "realism": _run_realism, "fit-preset": _run_fit_preset, "train-diffusion": _run_train_diffusion, "train-seg": _run_train_seg, "predict": _run_predict, "study": _run_study,
             "demo": _run_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        with command_environment(getattr(args, "out", None), getattr(args, "spacing_range", None)):
            return _COMMANDS[args.command](args)
    except SynthTumorError as exc:  # one line, whatever the message holds (a YAML parser's report has several)
        print(f"synthtumor {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `synthtumor info DATA | head`: the reader has gone; stop quietly, as ls does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit raises nothing more
        return 0
    except OSError as exc:  # the file system refused: permissions, a full disk, a path that is a file
        print(f"synthtumor {args.command}: error: {exc}. Fix: check the path, its permissions and the free "
              "space.", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to finish (completed cases are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
