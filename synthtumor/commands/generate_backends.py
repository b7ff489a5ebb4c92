"""Where ``generate`` computes its outputs: the local process pool or a Ray cluster, with retries,
and failures recorded instead of ending the job.

* ``local`` (:mod:`synthtumor.parallel`): one task per *input* case; a worker reads the scan,
  prepares it once and draws its ``per_case`` outputs. A case that raises is tried again
  ``retries`` times in the same worker, then its unfinished outputs are recorded as failed.
  A worker process that dies ends the job (rerun it: finished outputs are kept).
* ``ray`` (:mod:`synthtumor.distributed`): one task per *output* case on Ray actors, each of
  which builds the generator once (a diffusion checkpoint loads once per actor) and keeps the
  last prepared input, so consecutive outputs of one scan prepare it once. Tasks carry the
  input's file paths, never its volumes: every node must see the input and output folders at
  the same paths (a shared file system). Actors write each output's files and record into the
  output folder themselves (temporary name, then ``os.replace``); the driver only counts.
  A dead worker (crash, out-of-memory kill) or a raising task is retried on a fresh actor.

Both draw each output with the generator seeded from (run seed, case id, index), so the bytes
do not depend on the backend, the number of workers or the completion order. Job state is the
output folder's records (:mod:`synthtumor.io.job_records`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthtumor.commands.generate import (
    RECORDS,
    _draw_output,
    _generate_from,
    _is_done,
    _prepare_source,
    _record_path,
    output_case_id,
)
from synthtumor.commands.generate_job import WorkerJob, make_generator
from synthtumor.distributed import RayOptions, error_text, import_ray, ray_map
from synthtumor.errors import CasesFailedError, ConfigError
from synthtumor.io.case_io import write_text_atomic
from synthtumor.io.case_ref import CaseRef
from synthtumor.io.job_records import clear_failure, read_failures, record_failure
from synthtumor.io.scan_checks import SPACING_ENV
from synthtumor.io.workdir import WORK_DIR_ENV
from synthtumor.parallel import map_with_progress

__all__ = ["BACKENDS", "Execution", "compute_outputs", "report_failures", "CRASH_ONCE_ENV"]

BACKENDS = ("local", "ray")
FAILED_LIST = "failed.jsonl"
#: Test hook: ``<output case id>:<marker file>`` makes a Ray worker die (``os._exit``) the first
#: time it starts that output; the marker file remembers that it did.
CRASH_ONCE_ENV = "SYNTHTUMOR_TEST_CRASH_ONCE"


@dataclass(frozen=True)
class Execution:
    """How a generate job runs (nothing here changes its outputs).

    Attributes:
        backend: ``local`` (process pool) or ``ray``.
        workers: processes (local; default 1) or Ray actors (default: as many as fit the cluster).
        retries: extra attempts of a failing case before it is recorded as failed.
        max_in_flight: Ray: output cases submitted and unfinished, at most (default: one per
            actor); each holds one scan in memory, so this bounds the workers' memory.
        ray_address: Ray: ``auto`` or ``HOST:PORT`` of a running cluster; None starts a local
            instance for the run.
        cpus_per_task: Ray: CPUs each actor reserves.
        gpus_per_task: Ray: GPUs each actor reserves (for the diffusion generator; fractions share one).
    """

    backend: str = "local"
    workers: int | None = None
    retries: int = 2
    max_in_flight: int | None = None
    ray_address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0

    def ray_options(self) -> RayOptions:
        return RayOptions(self.ray_address, self.workers, self.cpus_per_task, self.gpus_per_task, self.retries,
                          self.max_in_flight)

    def check(self) -> None:
        """Raises: ConfigError for an unknown backend, a value out of range, Ray options with the
        local backend, or ``ray`` without Ray installed."""
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}.", fix=f"use one of {list(BACKENDS)}.")
        self.ray_options().check()
        if self.backend == "local" and (self.ray_address or self.gpus_per_task or self.cpus_per_task != 1.0):
            raise ConfigError("--ray-address, --cpus-per-task and --gpus-per-task need --backend ray.")
        if self.backend == "ray":
            import_ray()


def compute_outputs(job: WorkerJob, refs: Sequence[CaseRef], execution: Execution,
                    quiet: bool = False) -> tuple[list[str], list[dict[str, Any]]]:
    """Write every output of ``refs`` not yet verified as done.

    Returns:
        The finished output ids (input order) and the failure records of the others.
    """
    case_ids = [output_case_id(ref.case_id, k) for ref in refs for k in range(job.per_case)]
    if execution.backend == "ray":
        _on_ray(job, refs, execution, quiet)
    else:
        map_with_progress(_local_source, [(job, ref, execution.retries) for ref in refs],
                          workers=execution.workers or 1, quiet=quiet, desc="generate")
    records = job.writer.out / RECORDS
    finished = [cid for cid in case_ids if _record_path(job.writer, cid).is_file()]
    for case_id in finished:
        clear_failure(records, case_id)
    done = set(finished)
    return finished, read_failures(records, [cid for cid in case_ids if cid not in done])


def _local_source(args: tuple[WorkerJob, CaseRef, int]) -> str | None:
    """Local pool task: all outputs of one input case, tried ``1 + retries`` times; on failure
    its unfinished outputs are recorded as failed and the error returned."""
    job, ref, retries = args
    error = ""
    for _ in range(retries + 1):
        try:
            _generate_from((job, ref))
            return None
        except Exception as exc:  # noqa: BLE001 - recorded as the case's failure; the job goes on
            error = error_text(exc)
    for k in range(job.per_case):
        case_id = output_case_id(ref.case_id, k)
        if not _record_path(job.writer, case_id).is_file():
            record_failure(job.writer.out / RECORDS, case_id, error, retries + 1, source_case_id=ref.case_id)
    return error


class _OutputWorker:
    """Ray actor body: one output case per call; the generator built once, the last input kept prepared."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.generator = make_generator(job)
        self.source: str | None = None
        self.prepared = None

    def __call__(self, item: tuple[CaseRef, int]) -> str:
        ref, k = item
        case_id = output_case_id(ref.case_id, k)
        if _is_done(self.job, case_id):
            return case_id
        if self.source != ref.case_id:
            self.source, self.prepared = None, None  # free the last scan before reading the next
            self.prepared = _prepare_source(self.job, self.generator, ref)
            self.source = ref.case_id
        _crash_once_for_test(case_id)  # mid-task: the scan is read and prepared, nothing written yet
        return _draw_output(self.job, self.generator, self.prepared, ref, k)


def _crash_once_for_test(case_id: str) -> None:
    value = os.environ.get(CRASH_ONCE_ENV, "")
    target, _, marker = value.partition(":")
    if target == case_id and marker and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(3)


def _on_ray(job: WorkerJob, refs: Sequence[CaseRef], execution: Execution, quiet: bool) -> None:
    records = job.writer.out / RECORDS

    def failed(item: tuple[CaseRef, int], error: str, attempts: int) -> None:
        ref, k = item
        record_failure(records, output_case_id(ref.case_id, k), error, attempts, source_case_id=ref.case_id)

    env = {key: os.environ[key] for key in (WORK_DIR_ENV, SPACING_ENV, CRASH_ONCE_ENV) if key in os.environ}
    items = ((ref, k) for ref in refs for k in range(job.per_case))  # lazily: paths, not volumes
    ray_map(functools.partial(_OutputWorker, job), items, total=len(refs) * job.per_case,
            on_done=lambda item, case_id: None, on_failed=failed, options=execution.ray_options(), env=env,
            quiet=quiet, desc="generate")


def report_failures(out: Path, failures: list[dict[str, Any]], finished: list[str]) -> None:
    """Write ``out/failed.jsonl`` (one line per failed output) or remove a stale one.

    Raises:
        CasesFailedError: there were failures; one line: how many, where listed, the first error.
    """
    path = Path(out) / FAILED_LIST
    if not failures:
        path.unlink(missing_ok=True)
        return
    write_text_atomic("".join(json.dumps(f) + "\n" for f in failures), path)
    first = failures[0]
    raise CasesFailedError(
        f"{len(failures)} of {len(failures) + len(finished)} output case(s) failed after {first.get('attempts')} "
        f"attempt(s) each and are listed in {path}; the other {len(finished)} are written and in the manifest. "
        f"First failure, {first.get('case_id')}: {first.get('error')}",
        fix="correct what the errors name, then run the same command again: finished cases are verified by "
            "checksum and kept, failed ones redone.")
