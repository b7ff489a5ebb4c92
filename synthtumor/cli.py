"""The ``synthtumor`` command.

Subcommands: ``phantom`` (write a phantom cohort), ``info`` (what a scan or dataset holds),
``generate`` (an augmented dataset with synthetic lesions), ``evaluate`` (metrics of predictions
against references), ``realism`` (how real synthetic lesions look), ``fit-preset`` (a generator
preset fitted to annotated lesions), ``train-diffusion`` (the diffusion lesion generator),
``train-seg`` and ``predict`` (a segmentation model), ``study`` (real vs synthetic vs mixed
training) and ``demo`` (the main job on the embedded default); their arguments are built in
:mod:`synthtumor.cli_parsers`. Errors a user can cause print one line naming the case and the
fix, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from synthtumor import __version__
from synthtumor.cli_parsers import SUBCOMMANDS
from synthtumor.commands.environment import command_environment
from synthtumor.errors import ConfigError, SynthTumorError

__all__ = ["main", "build_parser"]

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``synthtumor`` command (each subcommand's arguments:
    :mod:`synthtumor.cli_parsers`)."""
    parser = argparse.ArgumentParser(
        prog="synthtumor",
        description="Realistic synthetic tumours in healthy CT scans.",
    )
    parser.add_argument("--version", action="version", version=f"synthtumor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_subcommand in SUBCOMMANDS:
        add_subcommand(sub)
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


#: generate's options that say what to draw or how to distribute it: a replay renders the manifest's
#: recorded specs on the local pool, so it has no use for them.
_DRAW_OPTIONS = ("preset", "overrides", "per_case", "seed", "generator", "resume", "retries",
                 "max_in_flight", "ray_address", "cpus_per_task", "gpus_per_task")


def _refuse_what_replay_ignores(args: argparse.Namespace) -> None:
    """Refuse ``--replay`` with a draw option set to anything but its default, rather than ignore it."""
    defaults = build_parser().parse_args(["generate", "--out", "x"])
    given = [name for name in _DRAW_OPTIONS if getattr(args, name) != getattr(defaults, name)]
    if given:
        flags = ", ".join("--" + ("set" if n == "overrides" else n.replace("_", "-")) for n in given)
        raise ConfigError(f"--replay renders the manifest's recorded lesions; it does not take {flags}.",
                          fix="leave them out, or run generate without --replay to draw new lesions.")


def _run_generate(args: argparse.Namespace) -> int:
    from synthtumor.commands.generate import GenerateJob, ReplayJob, run_generate, run_replay
    from synthtumor.commands.generate_backends import Execution

    common = dict(label_map=args.label_map, phase=args.phase, workers=args.workers, format=args.format,
                  preview=args.preview, quiet=args.quiet, expect_ct=not args.no_ct_check,
                  dataset_id=args.dataset_id, dataset_name=args.dataset_name,
                  checkpoint=args.checkpoint, ddim_steps=args.ddim_steps, overwrite=args.overwrite,
                  image=args.image, label=args.label)
    execution = Execution(args.backend, args.workers, args.retries, args.max_in_flight, args.ray_address,
                          args.cpus_per_task, args.gpus_per_task)
    if args.replay is not None:
        if args.backend != "local":
            raise ConfigError("--replay runs on the local pool only.", fix="leave --backend out.")
        _refuse_what_replay_ignores(args)
        manifest = run_replay(ReplayJob(manifest=args.replay, input_path=args.input, out=args.out, **common))
    else:
        manifest = run_generate(GenerateJob(
            input_path=args.input, out=args.out, preset=args.preset, overrides=parse_overrides(args.overrides),
            per_case=args.per_case, seed=args.seed, generator=args.generator, execution=execution,
            resume=args.resume, **common))
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
             "evaluate": _run_evaluate, "realism": _run_realism, "fit-preset": _run_fit_preset,
             "train-diffusion": _run_train_diffusion, "train-seg": _run_train_seg, "predict": _run_predict,
             "study": _run_study, "demo": _run_demo}


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
