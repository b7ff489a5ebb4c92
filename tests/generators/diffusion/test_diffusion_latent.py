"""Latent mode end to end: two-stage training, latent inpainting, exact context, resume, CLI."""

from __future__ import annotations

import csv
import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from synthtumor import CaseFileError
from synthtumor.cli import main
from synthtumor.commands.train_diffusion import run_train_diffusion
from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.generator import DiffusionGenerator
from synthtumor.io.case_io import save_case, write_cases_index

from tests.conftest import blob_case, blob_dataset

torch.set_num_threads(1)

#: tiny_latent_cpu made smaller still: 16^3 cubes -> 8^3 x 2 latents, a 2-level latent UNet.
LATENT = DiffusionConfig.from_preset(
    "tiny_latent_cpu",
    latent={"channels": [8, 16], "latent_channels": 2, "norm_num_groups": 4, "autoencoder_steps": 50},
    model={"channels": [8, 16], "attention_levels": [False, True], "num_head_channels": 8, "norm_num_groups": 4,
           "conditioning": ["attenuation"]},
    schedule={"num_train_timesteps": 50},
    train={"batch_size": 2, "checkpoint_every": 1, "val_every": 2, "warmup_steps": 1, "keep_checkpoints": 10},
    sample={"ddim_steps": 4, "batch_size": 2})


def weights(folder):
    return {name: load_file(str(folder / f"{name}.safetensors"))
            for name in ("autoencoder", "model", "ema") if (folder / f"{name}.safetensors").is_file()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for key in a[name]:
            torch.testing.assert_close(a[name][key], b[name][key], atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("lesions"))


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    # --max-steps 2 caps both stages: 2 autoencoder steps (not 50), then 2 denoiser steps
    return run_train_diffusion(dataset, tmp_path_factory.mktemp("run") / "run", config=LATENT, max_steps=2,
                               quiet=True)


@pytest.fixture(scope="module")
def cubes():
    known = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 16)).astype(np.float32)
    masks = np.zeros(known.shape, bool)
    masks[:, 5:11, 4:12, 6:10] = True
    return known, masks


def test_two_stage_training_writes_both_weights(run):
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["mode"] == "latent" and saved["latent"]["autoencoder_steps"] == 2 and saved["train"]["max_steps"] == 2
    stages = {int(f.name[5:]): json.loads((f / "state.json").read_text())
              for f in (run / "checkpoints").glob("step_*")}
    assert sorted(stages) == [1, 2, 3, 4]
    assert [stages[s]["stage"] for s in (1, 2, 3, 4)] == ["autoencoder", "autoencoder", "denoiser", "denoiser"]
    final = run / "checkpoints" / "step_0000004"
    assert set(weights(final)) == {"autoencoder", "model", "ema"}
    assert set(weights(run / "checkpoints" / "step_0000002")) == {"autoencoder"}
    # the frozen first stage travels unchanged into every denoiser checkpoint
    assert_same_weights({"a": weights(final)["autoencoder"]},
                        {"a": weights(run / "checkpoints" / "step_0000002")["autoencoder"]})
    scale = stages[4]["scale_factor"]
    assert np.isfinite(scale) and scale > 0 and stages[3]["scale_factor"] == scale
    assert stages[4]["autoencoder_steps"] == 2
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [(int(r["step"]), r["stage"]) for r in rows] == [
        (1, "autoencoder"), (2, "autoencoder"), (3, "denoiser"), (4, "denoiser")]
    assert all(np.isfinite(float(r["loss"])) for r in rows) and rows[1]["val_loss"] != ""
    assert (run / "loss_curve.png").stat().st_size > 0


def test_samples_are_seeded_and_keep_the_context_exactly(run, cubes):
    known, masks = cubes
    gen = DiffusionGenerator.from_checkpoint(run, device="cpu")
    a = gen.denoise(known, masks, [1, 2, 3], [0, 1, 2])
    b = gen.denoise(known, masks, [1, 2, 3], [0, 1, 2])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~masks], known[~masks])  # bit for bit, after decoding
    assert np.abs(a).max() <= 1.0 and (a[masks] != known[masks]).mean() > 0.9
    other = gen.denoise(known, masks, [1, 2, 4], [0, 1, 2])
    np.testing.assert_array_equal(other[:2], a[:2])  # batched with sample.batch_size 2: lesion 3 alone
    assert not np.array_equal(other[2], a[2])


def test_checkpoint_copy_and_pickle_give_identical_samples(run, cubes, tmp_path):
    known, masks = cubes
    first = DiffusionGenerator.from_checkpoint(run, device="cpu")
    a = first.denoise(known[:2], masks[:2], [7, 8], [0, 2])
    copy = shutil.copytree(run, tmp_path / "copy")
    second = DiffusionGenerator.from_checkpoint(copy, device="cpu")
    np.testing.assert_array_equal(second.denoise(known[:2], masks[:2], [7, 8], [0, 2]), a)
    blob = pickle.dumps(first)
    assert len(blob) < 100_000
    np.testing.assert_array_equal(pickle.loads(blob).denoise(known[:2], masks[:2], [7, 8], [0, 2]), a)


def test_render_touches_only_the_lesion_zones(run):
    case = blob_case(spacing=(1.6, 1.6, 2.5), seed=7, tumor=True, avoid=True)
    placement = HeuristicGenerator.from_preset("liver_metastasis", counts={"medium": [1, 1], "small": [1, 1]})
    gen = DiffusionGenerator(run, placement, device="cpu")
    prepared = gen.prepare(case)
    specs = gen.sample(prepared, np.random.default_rng(3))
    result = gen.render_result(prepared, specs)
    zone = np.zeros(case.shape, bool)
    for box in result.zones:
        zone[box] = True
    out = result.case
    np.testing.assert_array_equal(out.image[~zone], case.image[~zone])
    np.testing.assert_array_equal(out.label, placement.render_result(prepared, specs).case.label)
    new = out.tumor & ~case.tumor
    assert (out.image[new] != case.image[new]).mean() > 0.5
    np.testing.assert_array_equal(gen.render_result(prepared, specs).case.image, out.image)


@pytest.mark.parametrize("died_after", [3, 1])  # in stage 2, and in stage 1
def test_resume_in_either_stage_continues_exactly(run, dataset, tmp_path, died_after):
    interrupted = shutil.copytree(run, tmp_path / "interrupted")
    for folder in (interrupted / "checkpoints").glob("step_*"):
        if int(folder.name[5:]) > died_after:
            shutil.rmtree(folder)
    (interrupted / "checkpoints" / "latest.json").write_text(
        json.dumps({"step": died_after, "path": f"step_{died_after:07d}"}))
    if died_after < 2:  # only the autoencoder stage has a checkpoint: nothing to sample with yet
        with pytest.raises(CaseFileError, match="autoencoder stage"):
            DiffusionGenerator.from_checkpoint(interrupted)
    run_train_diffusion(dataset, interrupted, config=None, resume=True, quiet=True)
    final = "step_0000004"
    assert_same_weights(weights(run / "checkpoints" / final), weights(interrupted / "checkpoints" / final))
    rows = list(csv.DictReader((interrupted / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


def test_generate_command_runs_a_latent_run(run, tmp_path):
    healthy = tmp_path / "healthy"
    case = blob_case(spacing=(1.6, 1.6, 2.5), seed=5)
    save_case(case, healthy)
    write_cases_index(healthy, [case.case_id], name="healthy", description="test blob")
    code = main(["generate", "--input", str(healthy), "--out", str(tmp_path / "out"), "--generator", "diffusion",
                 "--checkpoint", str(run), "--ddim-steps", "3", "--set", "counts.small=[1,1]",
                 "--set", "counts.medium=[0,0]", "--set", "counts.large=[0,0]", "--set", "counts.tiny=[0,0]",
                 "--quiet"])
    assert code == 0
    records = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["specs"]
