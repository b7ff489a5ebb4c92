"""benchmarks/gpu_check.py: its dry run goes through every step on the CPU; no silent CPU fallback."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_runs_every_step_and_writes_the_report(tmp_path):
    assert _script().main(["--out", str(tmp_path), "--dry-run"]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    assert not report["errors"] and not report["skipped"]
    assert set(report["steps"]) == {"cohort", "seg_dynunet_gpu", "seg_dynunet_2d_gpu", "predict",
                                    "diffusion_gpu_64", "diffusion_gpu_latent_96", "study"}
    for name in ("seg_dynunet_gpu", "seg_dynunet_2d_gpu"):
        figures = report["steps"][name]
        assert figures["steps_per_s"] > 0 and 0 <= figures["data_wait_fraction"] <= 1
    assert report["steps"]["diffusion_gpu_latent_96"]["mode"] == "latent"
    assert report["steps"]["diffusion_gpu_64"]["sample_s_per_lesion"] > 0
    assert set(report["steps"]["study"]["arms"]) == {"real", "synthetic-heuristic"}
    assert (tmp_path / "gpu_check.log").read_text()


def test_a_spent_budget_skips_the_remaining_steps(tmp_path):
    assert _script().main(["--out", str(tmp_path), "--dry-run", "--budget-s", "0"]) == 1
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["skipped"][0] == "cohort" and not report["steps"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_refuses_to_fall_back_to_the_cpu(tmp_path, capsys):
    assert _script().main(["--out", str(tmp_path)]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "gpu_check.json").exists()


def test_a_step_still_running_at_the_limit_is_stopped_and_the_report_kept(tmp_path):
    module = _script()
    # the first step outlasts a 1-second limit; the report names it and skips the rest
    original = module.step_cohort

    def slow(check):
        import time

        time.sleep(5)
        return original(check)

    module.step_cohort = slow
    assert module.main(["--out", str(tmp_path), "--dry-run", "--limit-s", "1"]) == 1
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert "timed out" in report["errors"]["cohort"]
    assert "study" in report["skipped"]
