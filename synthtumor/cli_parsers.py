"""The arguments of each ``synthtumor`` subcommand: one function per subcommand.

:func:`synthtumor.cli.build_parser` calls them in :data:`SUBCOMMANDS` order (the order ``--help``
lists them in); options several subcommands share have their own ``_add_*`` helpers. The parser
is pinned by ``tests/test_cli_parser.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthtumor.calibration_defaults import CALIBRATION_ROUNDS

__all__ = ["SUBCOMMANDS"]

#: What ``ArgumentParser.add_subparsers`` returns (argparse's class for it is private).
Subparsers = Any


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
    p.add_argument("--config", type=Path, default=None,
                   help="phantom config YAML (default configs/phantom/default.yaml)")
    _add_workers(p)
    _add_quiet(p)


def _add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")


def _add_quiet(p: argparse.ArgumentParser, what: str = "no progress bar") -> None:
    p.add_argument("--quiet", action="store_true", help=what)


def _add_label_map(p: argparse.ArgumentParser, whose: str = "") -> None:
    p.add_argument("--label-map", default=None, help="label-map YAML or preset name" + whose)


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


def _phantom(sub: Subparsers) -> None:
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


def _info(sub: Subparsers) -> None:
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


def _generate(sub: Subparsers) -> None:
    p = sub.add_parser("generate", help="write an augmented dataset with synthetic lesions",
                       description="Put synthetic lesions into every case of a dataset (any layout "
                       "synthtumor reads) and write images, labels (2 = every tumour), a manifest "
                       "of every lesion, and optional previews.")
    _add_input_options(p, "input dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_label_map(p)
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
                   help="worker processes, or Ray actors (default 1; Ray: all the cluster fits); "
                   "outputs do not depend on it")
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
    _add_quiet(p)


def _evaluate(sub: Subparsers) -> None:
    p = sub.add_parser("evaluate", help="segmentation metrics and lesion detection by size",
                       description="Compare predicted labels with reference labels case by case "
                       "(any layout, or a folder of <case_id>.nii.gz label files) and write "
                       "metrics.csv, lesions.csv and summary.md.")
    p.add_argument("--pred", type=Path, required=True, help="predictions: a dataset or a folder of label files")
    p.add_argument("--ref", type=Path, required=True, help="reference dataset")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_label_map(p, ", for both folders")
    p.add_argument("--nsd-tolerance", type=float, default=2.0, metavar="MM", help="NSD tolerance in mm (default 2)")
    p.add_argument("--iou-threshold", type=float, default=0.1, help="lesion match IoU threshold (default 0.1)")
    p.add_argument("--size-bins", type=float, nargs="+", default=None, metavar="MM",
                   help="equivalent-radius bin edges in mm (default 0 5 10 inf)")
    _add_workers(p)
    _add_quiet(p, "no progress bar, no printed summary")
    _add_overwrite(p)
    _add_spacing_range(p)


def _realism(sub: Subparsers) -> None:
    p = sub.add_parser("realism", help="how real do synthetic lesions look? (feature statistics, classifier AUC)",
                       description="Measure every lesion of a real and a synthetic dataset (size, shape, "
                       "contrast, texture, edge), compare the distributions and report the "
                       "cross-validated AUC of a classifier telling them apart (0.5: indistinguishable).")
    p.add_argument("--real", type=Path, required=True, help="dataset with real tumours")
    p.add_argument("--synthetic", type=Path, required=True, help="dataset with synthetic tumours")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_label_map(p, " of the real dataset")
    p.add_argument("--synthetic-label-map", default=None, help="label map of the synthetic dataset (default: its own)")
    p.add_argument("--phase", default=None, help="keep only cases of this contrast phase")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation and bootstrap")
    p.add_argument("--min-volume", type=float, default=0.05, metavar="ML", help="skip smaller lesions (mL)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the AUC")
    p.add_argument("--permutations", type=int, default=200, help="label permutations for the chance band")
    _add_workers(p)
    _add_quiet(p, "no progress bar, no printed AUC")
    _add_overwrite(p)
    _add_spacing_range(p)


def _fit_preset(sub: Subparsers) -> None:
    p = sub.add_parser("fit-preset", help="fit a generator preset to a dataset's annotated lesions",
                       description="Measure every annotated lesion of a dataset, fit the laws of a generator "
                       "preset (size, count, shape, contrast, texture, edge, placement) to them, calibrate by "
                       "simulation, and write the preset as YAML for generate --preset.")
    p.add_argument("--real", type=Path, required=True, help="dataset whose labels mark tumours")
    p.add_argument("--out", type=Path, required=True, help="the preset YAML to write")
    p.add_argument("--base", default="liver_metastasis",
                   help="preset whose choices are kept where the data cannot tell")
    _add_label_map(p)
    p.add_argument("--phase", default=None, help="contrast phase of the scans (cases recorded in another are left out)")
    p.add_argument("--name", default=None, help="the preset's name (default fitted_<base>)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration draws")
    p.add_argument("--rounds", type=int, default=CALIBRATION_ROUNDS, help="calibration rounds (0: laws as measured)")
    p.add_argument("--min-volume", type=float, default=0.05, metavar="ML", help="skip smaller lesions (mL)")
    p.add_argument("--no-ct-check", action="store_true", help="do not refuse non-HU intensities")
    _add_quiet(p, "no progress, no summary")
    _add_overwrite(p)


def _train_diffusion(sub: Subparsers) -> None:
    p = sub.add_parser("train-diffusion", help="train the diffusion lesion generator on scans with tumours",
                       description="Cut a cube around every tumour of a dataset (any layout synthtumor "
                       "reads), split by scan, and train the diffusion lesion generator; writes "
                       "checkpoints, log.csv, loss_curve.png and config.json into --out.")
    p.add_argument("--data", type=Path, required=True, help="dataset folder whose labels mark tumours")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--config", default=None,
                   help="preset in configs/diffusion/ (tiny_cpu, gpu_64, tiny_latent_cpu, gpu_latent_96) "
                   "or a YAML path (default tiny_cpu; with --resume, the run's own)")
    _add_label_map(p)
    p.add_argument("--phase", default=None, help="contrast phase of the scans")
    p.add_argument("--max-steps", type=int, default=None,
                   help="denoiser optimizer steps (overrides train.max_steps); in latent mode it also caps "
                   "the autoencoder stage at min(latent.autoencoder_steps, N) steps")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    _add_overwrite(p)
    _add_spacing_range(p)
    _add_quiet(p)


def _train_seg(sub: Subparsers) -> None:
    p = sub.add_parser("train-seg", help="train a segmentation model (accelerate; CPU or GPU)",
                       description="Train a MONAI segmentation network on a dataset, optionally with "
                       "on-the-fly synthetic lesions; --val predicts and evaluates held-out cases.")
    p.add_argument("--train", type=Path, required=True, help="training dataset")
    p.add_argument("--val", type=Path, default=None, help="validation dataset (predicted and evaluated at the end)")
    p.add_argument("--config", default="tiny_cpu", help="configs/train/ preset or YAML path (default tiny_cpu)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    _add_label_map(p)
    p.add_argument("--phase", default=None, help="contrast phase of the scans")
    p.add_argument("--synthetic", default=None, metavar="PRESET",
                   help="add on-the-fly heuristic lesions from this generator preset")
    p.add_argument("--synthesis-prob", type=float, default=1.0, help="probability of synthetic lesions per sample")
    p.add_argument("--max-steps", type=int, default=None, help="override the config's iterations")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    _add_overwrite(p)
    _add_spacing_range(p)
    _add_quiet(p)


def _predict(sub: Subparsers) -> None:
    p = sub.add_parser("predict", help="segment scans with a trained run",
                       description="Write <case_id>.nii.gz labels (0/1/2) in each input's own geometry.")
    p.add_argument("--model", type=Path, required=True, help="run folder of `synthtumor train-seg`")
    _add_input_options(p, "scans to segment (labels not needed)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_label_map(p, " of the input dataset")
    _add_overwrite(p)
    _add_spacing_range(p)
    _add_quiet(p)


def _study(sub: Subparsers) -> None:
    p = sub.add_parser("study", help="real vs synthetic vs mixed training under data scarcity",
                       description="Run (or resume) a study declared in YAML: arms x numbers of real "
                       "scans x seeds; writes splits.json, results.csv, report.md and its plots.")
    p.add_argument("--config", required=True, help="configs/study/ name or YAML path")
    p.add_argument("--out", type=Path, required=True, help="study folder")
    _add_overwrite(p)
    _add_spacing_range(p)
    _add_quiet(p)


def _demo(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded phantom (no data needed)",
                       description="Build a small phantom cohort with reference lesions and "
                       "previews, then run a small real-vs-synthetic-vs-mixed study on phantoms "
                       "(configs/study/demo.yaml) and print its table; a few minutes on a CPU.")
    p.add_argument("--out", type=Path, default=Path("synthtumor-demo"), help="output folder")
    p.add_argument("--n", type=int, default=3, help="number of phantom cases (default 3)")
    p.add_argument("--no-study", action="store_true", help="stop after the phantom cohort")
    _add_overwrite(p)
    _add_phantom_options(p)


#: Each subcommand's parser builder, in the order ``synthtumor --help`` lists them.
SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    _phantom,
    _info,
    _generate,
    _evaluate,
    _realism,
    _fit_preset,
    _train_diffusion,
    _train_seg,
    _predict,
    _study,
    _demo,
)
