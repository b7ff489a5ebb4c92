"""``synthtumor study``: real versus synthetic versus mixed training under data scarcity.

1. Data: the configured datasets, or a phantom cohort (annotated cases with reference lesions
   standing in for real tumours, and other phantoms as healthy scans).
2. Splits, fixed once in ``splits.json``: ``n_test`` annotated patients held out; each seed's
   training subsets drawn from the rest, nested (the 2-scan set contains the 1-scan set). No
   test patient is ever trained on, and no healthy scan for synthesis is a test patient
   (:func:`check_splits` refuses a leak).
3. Runs: every arm x scarcity x seed trains a model (``runs/<arm>/n<k>/seed<s>/``), predicts the
   test scans and evaluates them; a run with ``done.json`` is skipped, so an interrupted study
   resumes where it stopped.
4. ``results.csv`` (one row per arm x n_real x seed x test case), ``lesions.csv`` and the report
   (:mod:`synthtumor.train_seg.report`).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.errors import ConfigError
from synthtumor.io.case_io import save_case, write_cases_index, write_json_atomic
from synthtumor.io.guards import check_output_apart, check_output_free, only_names
from synthtumor.io.labelmap import LabelMap
from synthtumor.io.layouts import load_dataset
from synthtumor.io.tables import write_csv_atomic
from synthtumor.metrics.dataset_eval import run_evaluate
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items
from synthtumor.train_seg.fitted_arm import arm_generator
from synthtumor.train_seg.predict import predict_items
from synthtumor.train_seg.study_config import StudyConfig
from synthtumor.train_seg.trainer import STAGE_FOLDERS, train_stage

__all__ = ["run_study", "make_splits", "check_splits", "RESULT_COLUMNS"]

RESULT_COLUMNS = ("arm", "n_real", "seed", "case_id", "dice_tumor", "nsd_tumor", "hd95_tumor", "dice_organ",
                  "nsd_organ", "lesion_tp", "lesion_fp", "lesion_fn", "burden_abs_err")


def _phantom_data(config: StudyConfig, root: Path, quiet: bool) -> tuple[Path, Path]:
    from synthtumor.phantom.cohort import write_phantom_cohort
    from synthtumor.phantom import PhantomConfig

    settings = {"n_annotated": 6, "n_healthy": 3, "lesions": 2, "spacing": [2.0, 2.0, 2.5], "seed": 0,
                **config.phantom}
    base = PhantomConfig(spacing=tuple(settings["spacing"]), phase=config.phase)
    annotated, healthy = root / "annotated", root / "healthy"
    write_phantom_cohort(annotated, int(settings["n_annotated"]), int(settings["seed"]),
                         replace(base, n_lesions=int(settings["lesions"])), quiet=quiet)
    write_phantom_cohort(healthy, int(settings["n_healthy"]), int(settings["seed"]) + 1000, base, quiet=quiet,
                         prefix="healthy")
    return annotated, healthy


def make_splits(annotated_ids: list[str], healthy_ids: list[str], config: StudyConfig,
                healthy_is_annotated: bool) -> dict[str, Any]:
    """Patient-level splits: test set, training pool, healthy scans, nested subsets per seed."""
    ids = sorted(annotated_ids)
    if len(ids) < config.n_test + max(config.scarcity):
        raise ConfigError(
            f"{len(ids)} annotated scans cannot give {config.n_test} test scans and {max(config.scarcity)} "
            "training scans.", fix="lower n_test or the largest scarcity, or add annotated scans.")
    order = np.random.default_rng(12345).permutation(len(ids))
    test = sorted(ids[i] for i in order[: config.n_test])
    pool = sorted(ids[i] for i in order[config.n_test:])
    healthy = sorted(h for h in healthy_ids if not (healthy_is_annotated and h in test))
    per_seed = {}
    for seed in config.seeds:
        shuffled = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
        per_seed[str(seed)] = {str(n): sorted(shuffled[:n]) for n in config.scarcity}
    splits = {"test": test, "train_pool": pool, "healthy": healthy, "per_seed": per_seed,
              "made_for": _split_key(config)}
    check_splits(splits)
    return splits


def check_splits(splits: dict[str, Any]) -> None:
    """Refuse any patient in both training and test, or a healthy scan that is a test patient.

    Raises:
        ConfigError: naming the leaking case ids.
    """
    test = set(splits["test"])
    leaks = test & set(splits["train_pool"])
    leaks |= test & set(splits["healthy"])
    for subsets in splits["per_seed"].values():
        for chosen in subsets.values():
            leaks |= test & set(chosen)
            if not set(chosen) <= set(splits["train_pool"]):
                raise ConfigError(f"training subset {sorted(chosen)} reaches outside the training pool.")
    if leaks:
        raise ConfigError(f"patients {sorted(leaks)} are both in the test set and used for training.",
                          fix="delete splits.json and rerun, or fix the datasets' case ids.")


def _split_key(config: StudyConfig) -> dict[str, Any]:
    return {"n_test": config.n_test, "scarcity": list(config.scarcity), "seeds": list(config.seeds)}


def _load_or_make_splits(out: Path, annotated: list[str], healthy: list[str], config: StudyConfig,
                         healthy_is_annotated: bool) -> dict[str, Any]:
    path = out / "splits.json"
    if path.is_file():
        splits = json.loads(path.read_text())
        if splits.get("made_for") != _split_key(config):
            raise ConfigError(
                f"{path} was made for {splits.get('made_for')}, the config asks for {_split_key(config)}.",
                fix="use a new --out for a changed study (its test set must not move), or delete the old study.",
            )
        check_splits(splits)
        return splits
    splits = make_splits(annotated, healthy, config, healthy_is_annotated)
    write_json_atomic(splits, path)
    return splits


def _test_reference(annotated: Path, label_map: str | None, test_ids: list[str], root: Path) -> Path:
    """The test scans as a case-folder dataset (0/1/2 labels): the evaluation's reference."""
    if (root / "dataset.json").is_file():
        return root
    dataset = load_dataset(annotated, label_map)
    for ref in dataset.refs:
        if ref.case_id in test_ids:
            save_case(ref.load(), root)
    write_cases_index(root, sorted(test_ids), name="test", description="held-out real test scans")
    return root


def _run_one(config: StudyConfig, train_config: TrainConfig, arm, items: list[dict], label_map: LabelMap,
             test_items: list[dict], reference: Path, run: Path, quiet: bool,
             fit_on: tuple[list[dict], LabelMap] | None = None) -> list[dict[str, Any]]:
    done = run / "done.json"
    if done.is_file():
        return json.loads(done.read_text())["rows"]
    fit_items, fit_map = fit_on if fit_on is not None else (None, None)
    generator = arm_generator(arm, fit_items, fit_map, config.phase, run)
    prob = 1.0 if arm.kind == "synthetic" else arm.ratio
    run.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"strategy": train_config.strategy, "arm": arm.name,
                       "cases": [i["case_id"] for i in items]}, run / "run.json")
    for stage, folder in STAGE_FOLDERS[train_config.strategy].items():
        train_stage(train_config, items, run / folder, stage=stage, label_map=label_map, generator=generator,
                    synthesis_prob=prob, phase=config.phase, resume=True, quiet=True)
    predict_items(run, test_items, run / "predictions", quiet=True)
    rows = run_evaluate(run / "predictions", reference, run / "evaluation",
                        nsd_tolerance_mm=config.nsd_tolerance_mm, quiet=True)
    write_json_atomic({"rows": rows}, done)
    return rows


def _owns(out: Path) -> bool:
    """A study folder: its splits, or (interrupted before them) only what a study writes."""
    return (out / "splits.json").is_file() or only_names("data", "runs", "*.csv", "*.md", "*.png")(out)


def run_study(config: StudyConfig | str, out: str | os.PathLike, *, quiet: bool = False,
              overwrite: bool = False) -> Path:
    """Run (or resume) a study and write its results and report; return the report's path.

    ``out`` must be new, empty or a study folder (resumed); ``overwrite`` lets a study start in
    another non-empty folder.
    """
    from tqdm import tqdm

    from synthtumor.train_seg.report import write_report

    config = config if isinstance(config, StudyConfig) else StudyConfig.load(config)
    out = Path(out)
    check_output_apart(out, {"annotated data": config.annotated, "healthy data": config.healthy})
    check_output_free(out, "study", _owns, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if config.annotated is None or config.healthy is None:
        phantom_annotated, phantom_healthy = _phantom_data(config, out / "data", quiet)
    annotated = Path(config.annotated) if config.annotated else phantom_annotated
    healthy = Path(config.healthy) if config.healthy else phantom_healthy
    items, label_map = dataset_items(annotated, config.label_map)
    healthy_items, healthy_map = dataset_items(healthy, config.label_map)
    splits = _load_or_make_splits(out, [i["case_id"] for i in items], [i["case_id"] for i in healthy_items],
                                  config, healthy_is_annotated=annotated.resolve() == healthy.resolve())
    by_id = {i["case_id"]: i for i in items}
    test_items = [by_id[c] for c in splits["test"]]
    reference = _test_reference(annotated, config.label_map, splits["test"], out / "data" / "test_reference")
    train_config = TrainConfig.load(config.train, **config.train_overrides)
    healthy_by_id = {i["case_id"]: i for i in healthy_items}
    plan = []
    for seed in config.seeds:
        seeded = replace(train_config, seed=seed)
        for arm in config.arms:
            # a synthetic arm uses no real scan, unless its preset is fitted on n real scans' lesions
            for n in ([0] if arm.kind == "synthetic" and not arm.fitted else list(config.scarcity)):
                real = [by_id[c] for c in splits["per_seed"][str(seed)][str(n)]] if n else []
                if arm.kind == "synthetic":
                    chosen, lm = [healthy_by_id[c] for c in splits["healthy"]], healthy_map
                else:
                    chosen, lm = real, label_map
                plan.append((seeded, arm, n, seed, chosen, lm, (real, label_map) if arm.fitted else None))
    results: list[dict[str, Any]] = []
    lesions: list[dict[str, Any]] = []
    for seeded, arm, n, seed, chosen, lm, fit_on in tqdm(plan, desc="study", unit="run", disable=quiet):
        run = out / "runs" / arm.name / f"n{n}" / f"seed{seed}"
        rows = _run_one(config, seeded, arm, chosen, lm, test_items, reference, run, quiet, fit_on)
        for row in rows:
            results.append({"arm": arm.name, "n_real": n, "seed": seed, **row})
        with open(run / "evaluation" / "lesions.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                lesions.append({"arm": arm.name, "n_real": n, "seed": seed, **row})
    extra = [c for c in (results[0] if results else {}) if c not in RESULT_COLUMNS]
    write_csv_atomic(results, list(RESULT_COLUMNS) + extra, out / "results.csv", missing=None)
    if lesions:
        write_csv_atomic(lesions, list(lesions[0]), out / "lesions.csv", missing=None)
    return write_report(out, config, results, lesions)
