"""DiffusionGenerator: heuristic placement, local rendering, reproducible, checkpoint round trip."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from synthtumor import CaseFileError, ConfigError
from synthtumor.commands.train_diffusion import run_train_diffusion
from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.diffusion.checkpoint import save_checkpoint, write_run_config
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.generator import DiffusionGenerator

from tests.conftest import blob_case, blob_dataset

torch.set_num_threads(1)

TINY = DiffusionConfig.from_preset(
    "tiny_cpu",
    model={"channels": [8, 16], "attention_levels": [False, True], "num_head_channels": 8, "norm_num_groups": 4,
           "conditioning": ["size_class", "attenuation"]},
    schedule={"num_train_timesteps": 50},
    train={"batch_size": 2, "max_steps": 2, "warmup_steps": 1},
    sample={"ddim_steps": 4, "batch_size": 3})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = blob_dataset(tmp_path_factory.mktemp("lesions"), n=2)
    return run_train_diffusion(root, tmp_path_factory.mktemp("run") / "run", config=TINY, quiet=True)


@pytest.fixture(scope="module")
def scene():
    case = blob_case(spacing=(1.6, 1.6, 2.5), seed=7, tumor=True, avoid=True)
    placement = HeuristicGenerator.from_preset("liver_metastasis", counts={"medium": [1, 1], "small": [2, 2]},
                                             mass_effect_min_radius_mm=10)
    prepared = placement.prepare(case)
    specs = placement.sample(prepared, np.random.default_rng(3))
    assert len(specs) == 3 and any(s.mass_effect > 0 for s in specs)
    return case, placement, prepared, specs


def test_render_touches_only_the_lesion_zones(run, scene):
    case, placement, prepared, specs = scene
    gen = DiffusionGenerator(run, placement)
    assert gen.sample(prepared, np.random.default_rng(3)) == specs  # the heuristic's placement
    result = gen.render_result(prepared, specs)
    out = result.case
    zone = np.zeros(case.shape, bool)
    for box in result.zones:
        zone[box] = True
    np.testing.assert_array_equal(out.image[~zone], case.image[~zone])
    np.testing.assert_array_equal(out.label[~zone], case.label[~zone])
    # labels exactly as the heuristic renderer draws them; the input is untouched
    heuristic = placement.render_result(prepared, specs).case
    np.testing.assert_array_equal(out.label, heuristic.label)
    np.testing.assert_array_equal(case.image, prepared.case.image)
    new = out.tumor & ~case.tumor
    assert (out.image[new] != heuristic.image[new]).mean() > 0.9
    # nothing drawn on vessels, avoid or the old tumour
    for mask in (case.avoid, case.tumor):
        np.testing.assert_array_equal(out.image[mask], case.image[mask])
    # the same seed gives the same bytes, in place or not
    again = gen.render_result(prepared, specs).case
    np.testing.assert_array_equal(again.image, out.image)
    fresh = blob_case(spacing=(1.6, 1.6, 2.5), seed=7, tumor=True, avoid=True)  # inplace moves its masks
    inplace = gen.render_result(gen.prepare(fresh), specs, inplace=True).case
    np.testing.assert_array_equal(inplace.image, out.image)


def test_checkpoint_round_trip_gives_identical_samples(run, scene, tmp_path):
    case, placement, prepared, specs = scene
    first = DiffusionGenerator(run, placement)
    model, _ = first._network()
    copy = tmp_path / "copy"
    write_run_config(copy, first.config)
    state = model.state_dict()
    save_checkpoint(copy, 9, model, state, {}, {"ema": {}})
    second = DiffusionGenerator.from_checkpoint(copy, "liver_metastasis")
    known = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 16)).astype(np.float32)
    masks = np.zeros(known.shape, bool)
    masks[:, 4:12, 4:12, 4:12] = True
    a = first.denoise(known, masks, [11, 12], [0, 5])
    b = second.denoise(known, masks, [11, 12], [0, 5])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[~masks], known[~masks])
    # pickled for worker processes: no weights travel, the samples are the same
    blob = pickle.dumps(first)
    assert len(blob) < 100_000
    np.testing.assert_array_equal(pickle.loads(blob).denoise(known, masks, [11, 12], [0, 5]), a)


def test_bad_run_folders_are_clear(run, tmp_path):
    with pytest.raises(CaseFileError, match="train-diffusion"):
        DiffusionGenerator.from_checkpoint(tmp_path)
    with pytest.raises(ConfigError, match="sample.ddim_steps"):
        DiffusionGenerator.from_checkpoint(run, steps=10_000)
    latent = tmp_path / "latent"
    write_run_config(latent, DiffusionConfig.from_preset("gpu_latent_96"))
    with pytest.raises(CaseFileError, match="no complete checkpoint"):
        DiffusionGenerator.from_checkpoint(latent)
