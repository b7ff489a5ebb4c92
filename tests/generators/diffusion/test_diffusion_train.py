"""Diffusion training: the loss falls, runs on the CPU, checkpoints, resumes exactly."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from synthtumor import ConfigError
from synthtumor.commands.train_diffusion import run_train_diffusion
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.model import build_unet, train_scheduler
from synthtumor.generators.diffusion.train import diffusion_loss

from tests.conftest import blob_dataset

torch.set_num_threads(1)

SMALL = {"model": {"channels": [8, 16], "attention_levels": [False, True], "num_head_channels": 8,
                   "norm_num_groups": 4},
         "schedule": {"num_train_timesteps": 50},
         "train": {"batch_size": 2, "max_steps": 4, "checkpoint_every": 2, "val_every": 2, "warmup_steps": 1}}
TINY = DiffusionConfig.from_preset("tiny_cpu", **SMALL)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("lesions"))


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(prediction):
    config = DiffusionConfig.from_preset("tiny_cpu", data={"cube_voxels": 8}, **{
        **SMALL, "schedule": {"num_train_timesteps": 50, "prediction_type": prediction}})
    torch.manual_seed(0)
    model = build_unet(config)
    scheduler = train_scheduler(config)
    gen = torch.Generator().manual_seed(0)
    target = torch.tanh(torch.randn(4, 1, 8, 8, 8, generator=gen))
    mask = torch.zeros_like(target)
    mask[:, :, 2:6, 2:6, 2:6] = 1
    noise = torch.randn(target.shape, generator=gen)
    steps = torch.tensor([5, 15, 30, 45])
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)

    def loss() -> torch.Tensor:
        return diffusion_loss(model, scheduler, target, mask, None, noise, steps, mask_weight=5.0)

    before = float(loss().detach())
    for _ in range(12):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss().detach()) < 0.8 * before


def test_training_runs_on_the_cpu_and_writes_a_run(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    run = run_train_diffusion(dataset, tmp_path / "run", config=TINY, max_steps=3, quiet=True)
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    folder = run / "checkpoints" / latest["path"]
    state = json.loads((folder / "state.json").read_text())
    assert latest["step"] == 3 and state["device"] == "cpu" and state["mixed_precision"] == "no"
    assert set(load_file(str(folder / "ema.safetensors"))) == set(load_file(str(folder / "model.safetensors")))
    opt = torch.load(folder / "optimizer.pt", weights_only=True)
    assert {"optimizer", "lr_scheduler"} <= set(opt)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and all(np.isfinite(float(r["loss"])) for r in rows)
    assert rows[1]["val_loss"] != ""
    assert (run / "loss_curve.png").stat().st_size > 0
    split = json.loads((run / "split.json").read_text())
    assert not set(split["train_cases"]) & set(split["val_cases"])
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["train"]["max_steps"] == 3 and saved["data"]["train_lesions"] == 2

    with pytest.raises(ConfigError, match="already holds"):
        run_train_diffusion(dataset, run, config=TINY, quiet=True)
    other = DiffusionConfig.from_preset("tiny_cpu", **{**SMALL, "train": {**SMALL["train"], "mask_weight": 2.0}})
    with pytest.raises(ConfigError, match="train.mask_weight"):
        run_train_diffusion(dataset, run, config=other, resume=True, quiet=True)
    run_train_diffusion(dataset, run, config=None, max_steps=5, resume=True, quiet=True)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]


def test_resume_continues_exactly_where_it_stopped(dataset, tmp_path):
    straight = run_train_diffusion(dataset, tmp_path / "straight", config=TINY, quiet=True)
    interrupted = tmp_path / "interrupted"
    shutil.copytree(straight, interrupted)
    # pretend the run died after the step-2 checkpoint
    shutil.rmtree(interrupted / "checkpoints" / "step_0000004")
    (interrupted / "checkpoints" / "latest.json").write_text(json.dumps({"step": 2, "path": "step_0000002"}))
    run_train_diffusion(dataset, interrupted, config=TINY, resume=True, quiet=True)
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(str(straight / "checkpoints" / "step_0000004" / name))
        b = load_file(str(interrupted / "checkpoints" / "step_0000004" / name))
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    # the same loss curve: the resumed log drops nothing, repeats no step and matches step by step
    curves = [[(r["step"], float(r["loss"])) for r in csv.DictReader((run / "log.csv").open())]
              for run in (straight, interrupted)]
    assert [s for s, _ in curves[1]] == [str(s) for s in range(1, TINY.train.max_steps + 1)]
    np.testing.assert_allclose([v for _, v in curves[0]], [v for _, v in curves[1]], rtol=1e-4)


def test_a_truncated_checkpoint_is_one_line_not_a_traceback(dataset, tmp_path):
    from synthtumor.errors import CaseFileError
    from synthtumor.generators.diffusion.checkpoint import latest_checkpoint, load_weights

    run = tmp_path / "run"
    run_train_diffusion(dataset, run, config=TINY, max_steps=2, quiet=True)
    weights = latest_checkpoint(run) / "ema.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # as a crash mid-copy leaves it
    with pytest.raises(CaseFileError, match="damaged or cut short"):
        load_weights(run)
