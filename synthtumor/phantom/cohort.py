"""Write a cohort of procedural abdominal CT phantoms as a case folder (``synthtumor phantom``).

Each case's random generator derives from (run seed, case index), never from worker order, so
the same call writes the same bytes with any number of workers. A case whose ``case.json``
exists is complete and skipped on a rerun; an interrupted case is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from synthtumor.case_summary import summarise_case
from synthtumor.errors import ConfigError
from synthtumor.io.case_io import CASE_FILES, save_case, write_cases_index, write_text_atomic
from synthtumor.io.output_guard import check_output_free, only_names
from synthtumor.io.layouts import load_dataset
from synthtumor.io.workdir import sweep_stray_temp_files, work_area
from synthtumor.parallel import map_with_progress
from synthtumor.phantom.build import make_phantom, phantom_seed
from synthtumor.phantom.config import PhantomConfig
from synthtumor.preview import save_case_preview

__all__ = ["write_phantom_cohort", "phantom_case_id", "STAND_IN_NOTE"]

STAND_IN_NOTE = (
    "Procedural abdominal CT phantoms made by synthtumor: NOT patient data. Anatomy, contrast and "
    "noise are simulated. Tumours in label 2 (if any) are the phantom's own reference lesions, "
    "an independent growth model standing in for real annotated tumours in demos; they are not "
    "real tumours."
)


def phantom_case_id(index: int, prefix: str = "phantom") -> str:
    """``phantom_000``, ``phantom_001``, ... (another prefix for a second, distinct cohort)."""
    return f"{prefix}_{index:03d}"


def _config_digest(config: PhantomConfig, seed: int) -> str:
    text = json.dumps({"config": asdict(config), "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_one(args: tuple[PhantomConfig, int, int, str, str, bool, str]) -> dict[str, Any]:
    config, seed, index, out, digest, preview, prefix = args
    case_id = phantom_case_id(index, prefix)
    phantom = make_phantom(config, phantom_seed(seed, index), case_id=case_id)
    meta = {"run_seed": seed, "index": index, "config_digest": digest, "synthetic": True,
            "anatomy_legend": {str(k): v for k, v in phantom.legend.items()},
            "reference_lesions": phantom.lesions}
    save_case(phantom.case, out, extra_meta=meta, extra_labels={"anatomy": phantom.anatomy})
    if preview:
        save_case_preview(phantom.case, Path(out) / case_id / "preview.png")
    return summarise_case(phantom.case)


def _done(out: Path, index: int, digest: str, prefix: str) -> bool:
    meta_path = out / phantom_case_id(index, prefix) / CASE_FILES["meta"]
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    if meta.get("config_digest") != digest:
        raise ConfigError(
            f"{out} already holds {phantom_case_id(index, prefix)} made with another config or seed.",
            fix="write to a new folder, or delete the old cohort.",
        )
    return True


def write_phantom_cohort(
    out: str | os.PathLike,
    n: int,
    seed: int,
    config: PhantomConfig,
    *,
    workers: int = 1,
    preview: bool = False,
    quiet: bool = False,
    prefix: str = "phantom",
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Write ``n`` phantom cases to ``out`` (case-folder layout) and return their summaries.

    Args:
        out: the dataset folder (created).
        n: number of cases (>= 1).
        seed: run seed; case ``i`` uses ``phantom_seed(seed, i)``.
        config: the phantom configuration.
        workers: worker processes (>= 1); the output does not depend on it.
        preview: also write ``<case>/preview.png``.
        quiet: no progress bar.
        prefix: case ids are ``<prefix>_000``, ...: cohorts standing for different patients
            need different prefixes.
        overwrite: write into a non-empty folder that is not a phantom cohort (see
            :func:`synthtumor.io.guards.check_output_free`).

    Raises:
        ConfigError: ``n`` or ``workers`` below 1, or ``out`` holds a cohort made otherwise.
    """
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}.")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    root = Path(out)
    check_output_free(root, "phantom", only_names(f"{prefix}_[0-9][0-9][0-9]*", "dataset.json", "resolved_config.yaml"),
                      overwrite=overwrite)
    root.mkdir(parents=True, exist_ok=True)
    with work_area(root):
        sweep_stray_temp_files(root)
        return _write_cohort(root, n, seed, config, workers, preview, quiet, prefix)


def _write_cohort(root: Path, n: int, seed: int, config: PhantomConfig, workers: int, preview: bool, quiet: bool,
                  prefix: str) -> list[dict[str, Any]]:
    digest = _config_digest(config, seed)
    todo = [i for i in range(n) if not _done(root, i, digest, prefix)]
    jobs = [(config, seed, i, str(root), digest, preview, prefix) for i in todo]
    written = map_with_progress(_write_one, jobs, workers=workers, quiet=quiet, desc="phantoms",
                                done=n - len(todo), total=n)
    summaries: dict[int, dict[str, Any]] = {job[2]: summary for job, summary in zip(jobs, written)}
    case_ids = [phantom_case_id(i, prefix) for i in range(n)]
    first = json.loads((root / case_ids[0] / CASE_FILES["meta"]).read_text())
    write_cases_index(
        root, case_ids, name="synthtumor-phantom", description=STAND_IN_NOTE,
        organ="liver", synthetic=True, run_seed=seed, phantom_config=asdict(config),
        anatomy_legend=first.get("anatomy_legend", {}),
    )
    resolved = json.loads(json.dumps(asdict(config) | {"seed": seed, "n": n}))
    write_text_atomic(yaml.safe_dump(resolved, sort_keys=False), root / "resolved_config.yaml")
    skipped = [i for i in range(n) if i not in summaries]
    if skipped:
        dataset = load_dataset(root, layout="cases")
        for i in skipped:
            summaries[i] = summarise_case(dataset[dataset.case_ids.index(phantom_case_id(i, prefix))])
    return [summaries[i] for i in range(n)]
