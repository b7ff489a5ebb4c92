"""Diffusion presets: they load, round-trip, and every bad value names its field."""

from __future__ import annotations

import pytest

from synthtumor import ConfigError
from synthtumor.generators.diffusion.config import DiffusionConfig, list_diffusion_presets
from synthtumor.generators.diffusion.model import sampling_scheduler, train_scheduler


def test_presets_load_and_round_trip():
    assert {"tiny_cpu", "gpu_64", "gpu_latent_96", "tiny_latent_cpu"} <= set(list_diffusion_presets())
    for name in list_diffusion_presets():
        config = DiffusionConfig.from_preset(name)
        assert DiffusionConfig.from_dict(config.to_dict()) == config
        train_scheduler(config)  # the schedule destroys the signal
    latent = DiffusionConfig.from_preset("gpu_latent_96")
    assert latent.mode == "latent" and latent.latent.downsampling == 4 and latent.channels == 4
    tiny = DiffusionConfig.from_preset("tiny_cpu", train={"max_steps": 7})
    assert tiny.train.max_steps == 7 and tiny.train.batch_size == 8


@pytest.mark.parametrize("override, field", [
    ({"model": {"channels": [16, 30, 32]}}, "model.channels"),
    ({"model": {"attention_levels": [False, True]}}, "model.attention_levels"),
    ({"model": {"conditioning": ["colour"]}}, "model.conditioning"),
    ({"data": {"hu_window": [300, -200]}}, "data.hu_window"),
    ({"data": {"cube_voxels": 18}}, "data.cube_voxels"),
    ({"data": {"spacing_mm": 0}}, "data.spacing_mm"),
    ({"train": {"mask_weight": 0.5}}, "train.mask_weight"),
    ({"train": {"lerning_rate": 0.1}}, "train.lerning_rate"),
    ({"train": {"batch_size": 2.5}}, "train.batch_size"),
    ({"train": {"mixed_precision": "fp16"}}, "train.mixed_precision"),
    ({"schedule": {"prediction_type": "sample"}}, "schedule.prediction_type"),
    ({"sample": {"ddim_steps": 0}}, "sample.ddim_steps"),
    ({"mode": "voxel"}, "mode"),
])
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError) as info:
        DiffusionConfig.from_preset("tiny_cpu", **override)
    assert _names(str(info.value), field)


def _names(message: str, field: str) -> bool:
    """The message starts with the field's dotted key (``data.spacing_mm: ...`` or ``... must be ...``)."""
    return message.startswith((field + ":", field + " "))


def test_schedule_and_sampler_limits_are_checked():
    weak = DiffusionConfig.from_preset("tiny_cpu", schedule={"beta_schedule": "linear", "beta_end": 0.02})
    with pytest.raises(ConfigError, match="schedule.beta_end") as info:
        train_scheduler(weak)
    assert "Fix:" in str(info.value)
    with pytest.raises(ConfigError, match="sample.ddim_steps"):
        sampling_scheduler(DiffusionConfig.from_preset("tiny_cpu"), 500)


def test_unknown_preset_is_clear():
    with pytest.raises(ConfigError, match="unknown diffusion preset"):
        DiffusionConfig.from_preset("no_such_preset")


@pytest.mark.parametrize("override, field, fix", [
    ({"data": {"cube_voxels": 18}}, "data.cube_voxels", "multiple of 4"),            # 18 % 4 (two 2x downsamplings)
    ({"data": {"cube_voxels": 20}}, "model.channels", "latent grid"),                  # 20 / 4 = 5, odd for 3 levels
    ({"latent": {"channels": [64, 100, 256]}}, "latent.channels", "norm_num_groups"),
    ({"latent": {"attention_levels": [False]}}, "latent.attention_levels", None),
    ({"latent": {"kl_weight": -1.0}}, "latent.kl_weight", None),
    ({"latent": {"autoencoder_steps": 0}}, "latent.autoencoder_steps", None),
    ({"latent": {"nonlocal_attention": "yes"}}, "latent.nonlocal_attention", None),
    ({"latent": {"perceptual_weight": 0.1}}, "latent.perceptual_weight", "use keys from"),
])
def test_bad_latent_values_name_the_field(override, field, fix):
    with pytest.raises(ConfigError) as info:
        DiffusionConfig.from_preset("gpu_latent_96", **override)
    assert _names(str(info.value), field)
    if fix is not None:
        assert fix in str(info.value)


def test_latent_mode_without_a_latent_section_is_clear():
    data = DiffusionConfig.from_preset("gpu_latent_96").to_dict()
    del data["latent"]
    with pytest.raises(ConfigError) as info:
        DiffusionConfig.from_dict(data)
    message = str(info.value)
    assert message.startswith("latent:") and "AutoencoderKL" in message and "Fix:" in message
    # the same section is harmless (ignored) in pixel mode
    assert DiffusionConfig.from_dict({**data, "mode": "pixel", "latent": {}}).channels == 1
