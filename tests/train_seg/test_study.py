"""A two-iteration study on tiny phantoms: results, report, splits without leaks, resume."""

from __future__ import annotations

import csv
import json

import pytest

from synthtumor import ConfigError
from synthtumor.train_seg.study import check_splits, run_study
from synthtumor.train_seg.study_config import ArmSpec, StudyConfig

TINY_TRAIN = {"channels": [4, 8, 16], "patch_size": [16, 16], "spacing_mm": [4.0, 4.0, 4.0], "iterations": 2,
              "checkpoint_every": 2, "batch_size": 1}


def tiny_study(**changes):
    base = dict(name="tiny", train="tiny_cpu", train_overrides=TINY_TRAIN, n_test=1, scarcity=(1, 2), seeds=(0,),
                phantom={"n_annotated": 3, "n_healthy": 1, "lesions": 1, "spacing": [3.0, 3.0, 4.0]},
                arms=(ArmSpec("real"), ArmSpec("synthetic"), ArmSpec("mixed", ratio=0.5)))
    base.update(changes)
    return StudyConfig(**base)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    report = run_study(tiny_study(), out, quiet=True)
    return out, report


def test_study_writes_results_report_and_pictures(study):
    out, report = study
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for column in ("arm", "n_real", "seed", "case_id", "dice_tumor", "nsd_tumor", "dice_organ"):
        assert column in rows[0]
    arms = {(r["arm"], r["n_real"]) for r in rows}
    assert arms == {("real", "1"), ("real", "2"), ("synthetic-heuristic", "0"),
                    ("mixed-heuristic-0.5", "1"), ("mixed-heuristic-0.5", "2")}
    text = report.read_text()
    assert "learning_curve.png" in text and "| real | 2 |" in text
    for picture in ("learning_curve.png", "sensitivity_by_size.png", "overlays.png"):
        assert (out / picture).stat().st_size > 1000


def test_splits_are_patient_disjoint_and_a_leak_is_caught(study):
    out, _ = study
    splits = json.loads((out / "splits.json").read_text())
    assert not set(splits["test"]) & set(splits["train_pool"])
    assert set(splits["per_seed"]["0"]["1"]) <= set(splits["per_seed"]["0"]["2"])  # nested subsets
    leaky = {**splits, "per_seed": {"0": {"1": splits["test"]}}}
    with pytest.raises(ConfigError):
        check_splits(leaky)
    with pytest.raises(ConfigError, match="both in the test set"):
        check_splits({**splits, "healthy": splits["test"]})


def test_an_interrupted_study_resumes_where_it_stopped(study):
    out, _ = study
    done = out / "runs" / "real" / "n2" / "seed0" / "done.json"
    kept = out / "runs" / "real" / "n1" / "seed0" / "done.json"
    before = kept.stat().st_mtime_ns
    done.unlink()
    run_study(tiny_study(), out, quiet=True)
    assert done.is_file() and kept.stat().st_mtime_ns == before


def test_bad_study_configs():
    with pytest.raises(ConfigError, match="kind must be one of"):
        ArmSpec("semi")
    with pytest.raises(ConfigError, match="ratio"):
        ArmSpec("mixed", ratio=0)
    with pytest.raises(ConfigError, match="scarcity"):
        tiny_study(scarcity=(0,))
    with pytest.raises(ConfigError, match="distinct"):
        tiny_study(arms=(ArmSpec("real"), ArmSpec("real")))


def test_a_changed_study_does_not_reuse_old_splits(study):
    out, _ = study
    with pytest.raises(ConfigError, match="was made for"):
        run_study(tiny_study(seeds=(0, 1)), out, quiet=True)


def test_fitted_arms_fit_on_their_own_training_scans_or_say_why_not(tmp_path):
    arms = (ArmSpec("real"), ArmSpec("synthetic", fitted=True, fit_rounds=0),
            ArmSpec("mixed", ratio=0.5, fitted=True, fit_rounds=0))
    config = tiny_study(arms=arms, scarcity=(1, 2),
                        phantom={"n_annotated": 3, "n_healthy": 1, "lesions": 3, "spacing": [2.5, 2.5, 3.0]})
    out = tmp_path / "fitted"
    report = run_study(config, out, quiet=True).read_text()
    splits = json.loads((out / "splits.json").read_text())
    with open(out / "results.csv", newline="") as handle:
        arms_run = {(r["arm"], r["n_real"]) for r in csv.DictReader(handle)}
    # a synthetic-fitted arm runs at every level: its preset comes from n real scans' lesions
    assert {("synthetic-fitted", "1"), ("synthetic-fitted", "2"), ("mixed-fitted-0.5", "2")} <= arms_run
    for n in (1, 2):
        record = json.loads((out / "runs" / "synthetic-fitted" / f"n{n}" / "seed0" / "fit.json").read_text())
        assert record["scans"] == splits["per_seed"]["0"][str(n)]  # its own training scans, never a test scan
        assert not set(record["scans"]) & set(splits["test"])
        if record["fitted"]:
            assert (out / "runs" / "synthetic-fitted" / f"n{n}" / "seed0" / "fitted_preset.yaml").is_file()
        else:
            assert "lesion" in record["why"]
    assert "## Fitted presets" in report and "synthetic-fitted" in report
    with pytest.raises(ConfigError, match="only synthetic and mixed"):
        ArmSpec("real", fitted=True)
