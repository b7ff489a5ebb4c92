"""What a ``generate`` run is asked to do (:class:`GenerateJob`, the argument of
:func:`~synthtumor.commands.generate.run_generate`; :class:`ReplayJob`, that of
:func:`~synthtumor.commands.generate.run_replay`; :class:`RunOptions`, the options both share),
and what each of its workers needs (:class:`WorkerJob`, picklable) to build the generator
(:func:`make_generator`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator, LesionGenerator
from synthtumor.generators.config import GeneratorConfig
from synthtumor.io.export import DatasetWriter

if TYPE_CHECKING:
    from synthtumor.commands.generate_backends import Execution

__all__ = ["RunOptions", "GenerateJob", "ReplayJob", "WorkerJob", "GENERATORS", "make_generator", "check_generator"]

GENERATORS = ("heuristic", "diffusion")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What a ``generate`` run and a ``generate --replay`` run both read and write, with the
    command line's defaults.

    The input is a dataset (``input_path``) or one scan (``image`` and its ``label``, with
    ``input_path`` None).

    Attributes:
        out: the output folder: new, empty, or this command's own run (resumed).
        input_path: a dataset folder of any layout :func:`synthtumor.io.load_dataset` reads, one
            case folder or a CSV list; None with ``image``.
        image: one scan instead of ``input_path``: a NIfTI file or DICOM folder.
        label: with ``image``: its multi-label NIfTI file or per-structure mask folder.
        label_map: the input's label-map YAML or preset name (None: the roles its layout implies;
            a replay: the one its manifest records).
        phase: contrast phase of every input scan (None: what each case records; a replay: the
            one its manifest records).
        workers: worker processes (a generate run: or Ray actors; when given, overrides
            ``execution.workers``). Outputs do not depend on it.
        format: output layout: ``cases``, ``nnunet`` or ``decathlon``.
        preview: also write a PNG per output case.
        quiet: no progress bar.
        expect_ct: refuse scans whose intensities are not HU.
        dataset_id: nnU-Net dataset id (default 501) or Decathlon task (default 90).
        dataset_name: nnU-Net / Decathlon dataset name.
        checkpoint: diffusion run folder written by ``train-diffusion`` (with the ``diffusion``
            generator; a replay: None takes the one its manifest records).
        ddim_steps: DDIM steps per lesion (None: the run's ``sample.ddim_steps``; a replay: the
            manifest's).
        overwrite: write into a non-empty folder that is not this command's own run
            (same-named files are replaced; nothing is deleted).
    """

    out: str | os.PathLike
    input_path: str | os.PathLike | None = None
    image: str | os.PathLike | None = None
    label: str | os.PathLike | None = None
    label_map: str | os.PathLike | None = None
    phase: str | None = None
    workers: int | None = None
    format: str = "cases"
    preview: bool = False
    quiet: bool = False
    expect_ct: bool = True
    dataset_id: int | None = None
    dataset_name: str = "SynthTumor"
    checkpoint: str | os.PathLike | None = None
    ddim_steps: int | None = None
    overwrite: bool = False


@dataclass(frozen=True, kw_only=True)
class GenerateJob(RunOptions):
    """One ``synthtumor generate`` run: the input and output options of :class:`RunOptions` and
    what to draw, with the command line's defaults. Options are checked when the run starts (see
    :func:`~synthtumor.commands.generate.run_generate` for the errors).

    Attributes:
        preset: generator preset in ``configs/generators/`` or a YAML path.
        overrides: preset values to change, nested as in the preset (``--set``), e.g.
            ``{"placement": {"vessel_clearance_mm": 4}}``.
        per_case: synthetic cases per input case (at least 1).
        seed: run seed; output ``k`` of case ``c`` is seeded from ``(seed, c, k)`` only.
        generator: ``heuristic``, or ``diffusion``: places and shapes lesions with ``preset``
            and fills them with the trained ``checkpoint``.
        execution: the local pool or Ray, the retries and the cases in flight (None: the local
            pool with its defaults; see :mod:`synthtumor.commands.generate_backends`).
        resume: insist that ``out`` holds a run to continue (every run verifies and keeps the
            outputs an earlier one recorded, and redoes those missing or changed).
    """

    preset: str = "liver_metastasis"
    overrides: dict[str, Any] = field(default_factory=dict)
    per_case: int = 1
    seed: int = 0
    generator: str = "heuristic"
    execution: Execution | None = None
    resume: bool = False


@dataclass(frozen=True, kw_only=True)
class ReplayJob(RunOptions):
    """One ``synthtumor generate --replay`` run: render the cases of ``manifest`` again from
    their recorded specs, into ``out`` (see :func:`~synthtumor.commands.generate.run_replay`).
    What to draw (preset, overrides, generator, seeds) comes from the manifest; the input and
    output options are those of :class:`RunOptions` (``workers`` None: one process).

    Attributes:
        manifest: a ``manifest.jsonl`` written by ``generate`` (edited or not).
    """

    manifest: str | os.PathLike


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs (picklable)."""

    preset: str
    overrides: dict[str, Any]
    writer: DatasetWriter
    per_case: int
    seed: int
    preview: bool
    expect_ct: bool
    generator: str = "heuristic"
    checkpoint: str | None = None
    ddim_steps: int | None = None
    threads: int | None = None
    label_map: str | None = None


def make_generator(job: WorkerJob) -> LesionGenerator:
    """The job's generator: the preset's heuristic one, or a trained diffusion run placing and
    shaping lesions with that preset (weights load lazily, in the worker)."""
    placement = HeuristicGenerator(GeneratorConfig.from_preset(job.preset, **job.overrides))
    if job.generator == "heuristic":
        return placement
    from synthtumor.generators.diffusion.generator import DiffusionGenerator

    return DiffusionGenerator(job.checkpoint, placement, steps=job.ddim_steps, threads=job.threads)


def check_generator(generator: str, checkpoint: str | os.PathLike | None) -> None:
    """Refuse an unknown generator, or ``diffusion`` without a checkpoint.

    Raises:
        ConfigError: naming the fix.
    """
    if generator not in GENERATORS:
        raise ConfigError(f"unknown generator {generator!r}.", fix=f"use one of {list(GENERATORS)}.")
    if generator == "diffusion" and checkpoint is None:
        raise ConfigError("--generator diffusion needs --checkpoint RUN.",
                          fix="train one with `synthtumor train-diffusion --data DATA --out RUN`, "
                          "then pass --checkpoint RUN.")
