"""``synthtumor generate``: an augmented dataset, offline, with a record of every lesion.

For every input case and ``k`` in ``0..per_case-1`` the output case ``<source>_syn<k>`` is drawn
with a generator seeded from ``(run seed, source case id, k)`` (never from worker order), so
the same command writes the same bytes with any ``--workers`` and on either backend (the local
pool or Ray: :mod:`synthtumor.commands.generate_backends`). Each finished output leaves a record
(``.records/<id>.json``: its manifest line, with the SHA-256 of each of its files) written after
its files; a rerun keeps outputs whose record and files agree and redoes the others
(:mod:`synthtumor.io.job_records`). ``manifest.jsonl`` (one line per finished output case:
``case_id``, ``source_case_id``, ``seed``, ``specs``, what each lesion became, ``files``) and
``resolved_config.yaml`` are written at the end. ``replay`` renders the cases of a manifest
again from their recorded specs.
"""

from __future__ import annotations

import json
import warnings
import zlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthtumor.commands.generate_job import GenerateJob, ReplayJob, WorkerJob, check_generator, make_generator
from synthtumor.errors import ConfigError, DatasetLayoutError, InvalidCaseError
from synthtumor.generators import LesionGenerator
from synthtumor.generators.config import GeneratorConfig, load_preset_dict
from synthtumor.io.case_io import write_json_atomic, write_text_atomic
from synthtumor.io.export import DatasetWriter, make_writer
from synthtumor.io.job_records import file_checksums, verified_record
from synthtumor.io.output_guard import check_output_apart, check_output_free
from synthtumor.io.scan_checks import check_organ_present
from synthtumor.io.layouts import CaseRef, input_paths, open_input
from synthtumor.io.workdir import sweep_stray_temp_files, work_area
from synthtumor.lesions.render import RENDER_VERSION
from synthtumor.lesions.spec import TumorSpec
from synthtumor.parallel import map_with_progress
from synthtumor.preview import save_case_preview

__all__ = ["GenerateJob", "ReplayJob", "run_generate", "run_replay", "output_seed", "output_case_id"]

RECORDS = ".records"


def output_seed(run_seed: int, source_case_id: str, index: int) -> np.random.SeedSequence:
    """The seed of one output case, from (run seed, source case id, index) only."""
    return np.random.SeedSequence([run_seed, zlib.crc32(source_case_id.encode()), index])


def output_case_id(source_case_id: str, index: int) -> str:
    """``liver_3`` and 1 -> ``liver_3_syn01``."""
    return f"{source_case_id}_syn{index:02d}"


def _record_path(writer: DatasetWriter, case_id: str) -> Path:
    return writer.out / RECORDS / f"{case_id}.json"


def _lesion_records(result) -> list[dict[str, Any]]:
    return [{"voxels": les.voxels, "volume_ml": round(les.volume_ml, 4)} for les in result.lesions]


def _write_output(job: WorkerJob, generator: LesionGenerator, prepared, case_id: str,
                  source_id: str, seed_info: Any, specs: list[TumorSpec]) -> dict[str, Any]:
    result = generator.render_result(prepared, specs)
    out = result.case.replace(case_id=case_id)
    record = {
        "case_id": case_id,
        "source_case_id": source_id,
        "seed": seed_info,
        "generator": generator.name,
        "preset": job.preset,
        "overrides": job.overrides,
        "label_map": job.label_map,
        **({"checkpoint": job.checkpoint, "ddim_steps": job.ddim_steps} if job.generator != "heuristic" else {}),
        "phase": out.phase.value,
        "render_version": RENDER_VERSION,
        "specs": [s.to_dict() for s in specs],
        "rendered": _lesion_records(result),
    }
    job.writer.write_case(out, extra_meta={"source_case_id": source_id, "lesions": len(specs)})
    if job.preview:
        new = out.tumor.copy()
        if prepared.case.tumor is not None:
            new &= ~prepared.case.tumor
        centre = specs[0].centre_mm if specs else None
        save_case_preview(out, job.writer.out / "previews" / f"{case_id}.png", centre_mm=centre,
                          extra_masks={"new tumour": new})
    files = job.writer.case_files(case_id)
    if job.preview:
        files.append(job.writer.out / "previews" / f"{case_id}.png")
    record["files"] = file_checksums(files, job.writer.out)  # the record is written last: it marks the case done
    path = _record_path(job.writer, case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, path)
    return record


def _is_done(job: WorkerJob, case_id: str) -> bool:
    """The output has a record whose files are all there with their recorded SHA-256 (a record
    that fails the check is deleted, so the output is redone)."""
    return verified_record(_record_path(job.writer, case_id), job.writer.out) is not None


def _prepare_source(job: WorkerJob, generator: LesionGenerator, ref: CaseRef):
    """Read one input case (finite, CT in HU, grids and spacing checked while loading) and prepare it."""
    case = ref.load(job.expect_ct)
    check_organ_present(case.organ, case.case_id, job.label_map)
    return generator.prepare(case)


def _draw_output(job: WorkerJob, generator: LesionGenerator, prepared, ref: CaseRef, k: int) -> str:
    """Sample and write output ``k`` of ``ref``, seeded from (run seed, case id, k) only."""
    case_id = output_case_id(ref.case_id, k)
    seq = output_seed(job.seed, ref.case_id, k)
    specs = generator.sample(prepared, np.random.default_rng(seq))
    seed_info = {"run_seed": job.seed, "source_case_id": ref.case_id, "index": k, "entropy": list(seq.entropy)}
    _write_output(job, generator, prepared, case_id, ref.case_id, seed_info, specs)
    return case_id


def _generate_from(args: tuple[WorkerJob, CaseRef]) -> list[str]:
    job, ref = args
    todo = [k for k in range(job.per_case) if not _is_done(job, output_case_id(ref.case_id, k))]
    if not todo:
        return []
    generator = make_generator(job)
    prepared = _prepare_source(job, generator, ref)
    return [_draw_output(job, generator, prepared, ref, k) for k in todo]


def _finish(job: WorkerJob, case_ids: list[str], config: dict[str, Any]) -> Path:
    records = [json.loads(_record_path(job.writer, cid).read_text()) for cid in case_ids]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    write_text_atomic(lines, job.writer.out / "manifest.jsonl")
    job.writer.write_index(case_ids)
    write_text_atomic(yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False),
                      job.writer.out / "resolved_config.yaml")
    _check_drawn(records)
    return job.writer.out / "manifest.jsonl"


def _why_nothing(record: dict[str, Any]) -> str:
    if not record.get("specs"):
        return "no room for a lesion (organ too small for the preset's sizes, or vessels and margins leave no place)"
    return ("its lesions cover no voxel (the scan's voxels are too coarse for the preset's sizes: check its "
            "spacing)")


def _check_drawn(records: list[dict[str, Any]]) -> None:
    """Warn for each case that got no lesion voxel; refuse a run in which no case got any.

    Raises:
        InvalidCaseError: every output case is without lesions (the dataset is still written, so
            the manifest can be read to see why).
    """
    empty = []
    for record in records:
        voxels = [int(x.get("voxels", 0)) for x in record.get("rendered", [])]
        if sum(voxels) == 0:
            empty.append(record)
            warnings.warn(f"{record['case_id']}: no lesion drawn: {_why_nothing(record)}.", stacklevel=3)
        elif 0 in voxels:
            warnings.warn(f"{record['case_id']}: {voxels.count(0)} of its {len(voxels)} lesions cover no voxel "
                          "(the scan's voxels are too coarse for them: check its spacing).", stacklevel=3)
    if records and len(empty) == len(records):
        raise InvalidCaseError(f"no lesion was drawn in any of the {len(records)} case(s): "
                               f"{_why_nothing(empty[0])}.", case=empty[0]["source_case_id"],
                               fix="check the scans' spacing and organ masks, or use a preset with smaller lesions.")


def _check_same_run(out: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to resume into a folder made by a different command; record this run otherwise."""
    path = out / RECORDS / "run.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != fingerprint:
            changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
            raise ConfigError(
                f"{out} holds outputs of another generate run (it differs in {changed}); resuming would mix them.",
                fix="write to a new --out, or rerun with the original options.",
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(fingerprint, path)


def _owns(out: Path) -> bool:
    """A folder holding a generate (or replay) run: it has the run's records."""
    return (out / RECORDS).is_dir()


def _check_out(inputs: dict[str, Path | None], out: Path, overwrite: bool) -> None:
    check_output_apart(out, inputs)
    check_output_free(out, "generate", _owns, overwrite=overwrite)


def _input_record(inputs: dict[str, Path | None], resolve: bool = False) -> str:
    """What the run read, for its fingerprint and resolved config: the --input path, or the
    --image / --label pair."""
    shown = {k: (v.resolve() if resolve else v) for k, v in inputs.items() if v is not None}
    return str(shown["input"]) if "input" in shown else ", ".join(f"{k}={v}" for k, v in shown.items())


def run_generate(job: GenerateJob) -> Path:
    """Generate ``job.per_case`` synthetic cases per input case; return the manifest's path.

    ``job.out`` must be new, empty, or this command's own run (resumed); ``job.overwrite`` lets
    it write into another non-empty folder. Temporary files live in ``out/.synthtumor-tmp/`` (see
    :mod:`synthtumor.io.workdir`), so a run killed at any moment, run again, writes the same bytes
    as an uninterrupted one and leaves no stray file. Every run verifies the outputs an earlier
    one recorded (SHA-256 of their files) and redoes those missing or changed.

    Raises:
        ConfigError: bad options (per_case or workers below 1, unknown preset or format, an
            output folder overlapping the input, --resume without a run, Ray not installed).
        CasesFailedError: some outputs failed every attempt (the others are written and in the
            manifest; ``out/failed.jsonl`` lists the failures).
        SynthTumorError: no case got a lesion.
    """
    from synthtumor.commands.generate_backends import Execution, compute_outputs, report_failures

    workers = {"workers": job.workers} if job.workers is not None else {}
    execution = replace(job.execution or Execution(), **workers)
    if job.per_case < 1:
        raise ConfigError("--per-case must be at least 1.")
    execution.check()
    inputs, out = input_paths(job.input_path, job.image, job.label), Path(job.out)
    if job.resume and not (out / RECORDS / "run.json").is_file():
        raise ConfigError(f"--resume: {out} holds no generate run to resume.",
                          fix="check --out, or leave --resume out to start the run.")
    _check_out(inputs, out, job.overwrite)
    overrides = dict(job.overrides or {})
    config = GeneratorConfig.from_preset(job.preset, **overrides)  # validate before any work
    check_generator(job.generator, job.checkpoint)
    dataset = open_input(job.input_path, job.image, job.label, job.label_map, phase=job.phase,
                         expect_ct=job.expect_ct)
    writer = make_writer(job.format, out, organ_name=config.organ, dataset_id=job.dataset_id,
                         dataset_name=job.dataset_name,
                         description=f"synthetic {job.preset} lesions (synthtumor) in {dataset.root.name}")
    work = WorkerJob(job.preset, overrides, writer, job.per_case, job.seed, job.preview, job.expect_ct,
                     job.generator, str(job.checkpoint) if job.checkpoint is not None else None, job.ddim_steps,
                     1, str(job.label_map) if job.label_map is not None else None)
    make_generator(work)  # a diffusion run is checked here (config, checkpoint, steps); weights load later
    with work_area(out):  # key order kept: run.json and resolved_config.yaml are part of the output's bytes
        _check_same_run(out, {"command": "generate", "input": _input_record(inputs, resolve=True),
                              "preset": job.preset, "overrides": overrides, "seed": job.seed,
                              "per_case": job.per_case, "format": job.format, "generator": job.generator,
                              "checkpoint": work.checkpoint, "ddim_steps": job.ddim_steps,
                              "label_map": work.label_map, "phase": job.phase})
        sweep_stray_temp_files(out)
        finished, failures = compute_outputs(work, dataset.refs, execution, quiet=job.quiet)
        resolved = {"command": "generate", "input": _input_record(inputs), "label_map": job.label_map,
                    "phase": job.phase, "generator": job.generator, "checkpoint": work.checkpoint,
                    "ddim_steps": job.ddim_steps, "preset": job.preset, "overrides": overrides,
                    "per_case": job.per_case, "seed": job.seed, "format": job.format,
                    "preset_config": load_preset_dict(job.preset) | {"resolved": asdict(config)}}
        manifest = _finish(work, finished, resolved)
        report_failures(out, failures, finished)
        return manifest


def _replay_one(args: tuple[WorkerJob, CaseRef, list[dict[str, Any]]]) -> None:
    job, ref, records = args
    generator = make_generator(job)
    prepared = generator.prepare(ref.load(job.expect_ct))
    for record in records:
        if _is_done(job, record["case_id"]):
            continue
        specs = [TumorSpec.from_dict(s) for s in record["specs"]]
        _write_output(job, generator, prepared, record["case_id"], ref.case_id, record["seed"], specs)


def _read_manifest(manifest: Path) -> list[dict[str, Any]]:
    """The manifest's case records, one JSON object a line.

    Raises:
        ConfigError: naming the first line that is not a complete case record (a manifest cut
            off by a crash or an editor).
    """
    records = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"manifest {manifest} line {number} is not complete JSON ({exc.msg}).",
                              fix="restore the line, or delete it to leave that case out of the replay.") from None
        if not isinstance(record, dict) or "source_case_id" not in record or "specs" not in record:
            raise ConfigError(f"manifest {manifest} line {number} is not a case record "
                              "(needs source_case_id and specs).", fix="restore the line, or delete it.")
        records.append(record)
    return records


def run_replay(job: ReplayJob) -> Path:
    """Render the cases of ``job.manifest`` again from their recorded specs (edit them first if you
    like); return the new manifest's path.

    The input is given as for :func:`run_generate` (``input_path``, or ``image`` and ``label``);
    ``out`` and ``overwrite`` likewise. ``label_map``, ``phase``, ``checkpoint`` and
    ``ddim_steps`` left None are the ones the manifest records.

    Raises:
        DatasetLayoutError: the manifest names source cases the input dataset lacks.
    """
    manifest, inputs, out = Path(job.manifest), input_paths(job.input_path, job.image, job.label), Path(job.out)
    _check_out(inputs, out, job.overwrite)
    if not manifest.is_file():
        raise ConfigError(f"manifest not found: {manifest}.")
    records = _read_manifest(manifest)
    if not records:
        raise ConfigError(f"manifest {manifest} holds no case.")
    first = records[0]
    recorded = first.get("render_version", 1)
    if recorded != RENDER_VERSION and first.get("generator", "heuristic") == "heuristic":
        warnings.warn(
            f"{manifest.name} was rendered by renderer version {recorded}; this is version "
            f"{RENDER_VERSION}: the same lesions (places, sizes, laws) come out with other texture "
            "and surface details, so the images will not match the original bytes.",
            stacklevel=2,
        )
    # what the original run read the scans with, unless given again
    label_map = job.label_map if job.label_map is not None else first.get("label_map")
    phase = job.phase if job.phase is not None else first.get("phase")
    dataset = open_input(job.input_path, job.image, job.label, label_map, phase=phase, expect_ct=job.expect_ct)
    refs = {r.case_id: r for r in dataset.refs}
    missing = sorted({r["source_case_id"] for r in records} - set(refs))
    if missing:
        raise DatasetLayoutError(f"the manifest's source cases {missing} are not in {_input_record(inputs)}.",
                                 fix="pass the --input dataset the manifest was made from.")
    preset = records[0].get("preset", "liver_metastasis") if records else "liver_metastasis"
    writer = make_writer(job.format, out, organ_name=GeneratorConfig.from_preset(preset).organ,
                         dataset_id=job.dataset_id, dataset_name=job.dataset_name,
                         description=f"replay of {manifest.name} (synthtumor)")
    generator = records[0].get("generator", "heuristic") if records else "heuristic"
    checkpoint = job.checkpoint if job.checkpoint is not None else (records[0].get("checkpoint") if records else None)
    ddim_steps = job.ddim_steps if job.ddim_steps is not None else (records[0].get("ddim_steps") if records else None)
    check_generator(generator, checkpoint)
    work = WorkerJob(preset, dict(first.get("overrides") or {}), writer, 0, 0, job.preview, job.expect_ct, generator,
                     str(checkpoint) if checkpoint is not None else None, ddim_steps, 1,
                     str(label_map) if label_map is not None else None)
    make_generator(work)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["source_case_id"], []).append(r)
    with work_area(out):
        sweep_stray_temp_files(out)
        map_with_progress(_replay_one, [(work, refs[s], g) for s, g in sorted(groups.items())],
                          workers=job.workers or 1, quiet=job.quiet, desc="replay")
        resolved = {"command": "generate --replay", "manifest": str(manifest), "input": _input_record(inputs),
                    "format": job.format}
        return _finish(work, [r["case_id"] for r in records], resolved)
