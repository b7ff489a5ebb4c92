"""Every config class checks every declared field when it is built, directly or from a mapping,
and a bad value raises the one error type naming the dotted key and what is allowed.

One line of ``CONFIGS`` per class: the class, the arguments it needs, and the prefix its keys
read in errors. The tests walk the class's :func:`~synthtumor.config_rules.bounded` fields.
"""

from __future__ import annotations

import dataclasses

import pytest

from synthtumor.config_rules import ConfigError, interval
from synthtumor.errors import ConfigError as ErrorsConfigError
from synthtumor.generators.config import AppearanceLaw, GeneratorConfig
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.sections import (
    DataConfig,
    DiffusionTrainConfig,
    LatentConfig,
    ModelConfig,
    SampleConfig,
    ScheduleConfig,
)
from synthtumor.generators.shape_laws import NoduleLaw
from synthtumor.lesions.placement import PlacementRules
from synthtumor.lesions.spec import IntensitySpec, TumorSpec
from synthtumor.phantom import PhantomConfig
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.study_config import ArmSpec, StudyConfig

CONFIGS = [  # (class, the arguments it needs, the prefix of its keys)
    (GeneratorConfig, {"name": "mine", "appearance": {"default": AppearanceLaw()}}, "mine"),
    (AppearanceLaw, {}, "AppearanceLaw"),
    (PlacementRules, {}, "placement"),
    (DataConfig, {}, "data"),
    (ModelConfig, {}, "model"),
    (ScheduleConfig, {}, "schedule"),
    (DiffusionTrainConfig, {}, "train"),
    (SampleConfig, {}, "sample"),
    (LatentConfig, {}, "latent"),
    (DiffusionConfig, {}, ""),
    (TrainConfig, {}, "train"),
    (StudyConfig, {}, "study"),
    (ArmSpec, {"kind": "mixed"}, "study.arm"),
    (PhantomConfig, {}, ""),
    (NoduleLaw, {}, "nodules"),
    (TumorSpec, {"centre_mm": (0, 0, 0), "radii_mm": (5, 5, 5), "rotation": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
                 "size_class": "small", "shape_seed": 1, "texture_seed": 2}, "lesion"),
    (IntensitySpec, {}, "lesion.intensity"),
]
_IDS = [cls.__name__ for cls, _, _ in CONFIGS]


def _checked(cls):
    return [f for f in dataclasses.fields(cls) if "bounds" in f.metadata]


def _outside(meta):
    """A value just outside a field's range (None when the range is open on both sides)."""
    (lo, hi), (low_open, high_open) = meta["bounds"], meta["open"]
    if lo is not None:
        return lo if low_open else lo - 1
    if hi is not None:
        return hi if high_open else hi + 1
    return None


def _key(where, name):
    return f"{where}.{name}" if where else name


def test_one_error_type():
    assert ConfigError is ErrorsConfigError and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("cls, needs, where", CONFIGS, ids=_IDS)
def test_defaults_build_and_rebuild_unchanged(cls, needs, where):
    config = cls(**needs)
    assert _checked(cls), f"{cls.__name__} declares no checked field"
    assert dataclasses.replace(config) == config  # checking is idempotent


@pytest.mark.parametrize("cls, needs, where", CONFIGS, ids=_IDS)
def test_every_range_is_checked_when_built_directly(cls, needs, where):
    tried = 0
    for f in _checked(cls):
        meta = f.metadata
        value = _outside(meta)
        if value is None:
            continue
        kind = meta["kind"]
        if kind in ("numbers", "ints"):
            value = [value] * (meta["length"] or 1)
        elif kind == "range" or callable(kind):
            value = (value, value)
        with pytest.raises(ConfigError) as info:
            cls(**{**needs, f.name: value})
        message = str(info.value)
        assert _key(where, f.name) in message, message
        if kind in ("number", "int", "numbers", "ints"):
            assert interval(*meta["bounds"], *meta["open"]) in message, message
        elif kind == "range":
            assert "lies outside" in message, message
        tried += 1
    assert tried or cls is DiffusionConfig  # DiffusionConfig's own fields are a choice and sections


@pytest.mark.parametrize("cls, needs, where", CONFIGS, ids=_IDS)
def test_a_wrongly_typed_value_names_its_key(cls, needs, where):
    for f in _checked(cls):
        with pytest.raises(ConfigError) as info:
            cls(**{**needs, f.name: object()})
        assert _key(where, f.name) in str(info.value)


def test_a_section_built_inside_a_preset_names_its_place():
    data = {"appearance": {"default": {}}, "placement": {"min_gap_mm": -1}}
    with pytest.raises(ConfigError, match=r"^mine\.placement\.min_gap_mm must be >= 0"):
        GeneratorConfig.from_dict({"name": "mine", **data})
    with pytest.raises(ConfigError, match=r"^study\.arms\[1\]\.ratio must be in \(0, 1\]"):
        StudyConfig.from_dict({"arms": [{"kind": "real"}, {"kind": "mixed", "ratio": 1.5}]})
    with pytest.raises(ConfigError, match=r"^latent\.kl_weight must be >= 0"):
        DiffusionConfig(mode="latent", latent={"kl_weight": -1})
    with pytest.raises(ConfigError, match=r"^mine\.nodules\.prob must be in \[0, 1\]"):  # built directly too
        GeneratorConfig(name="mine", appearance={"default": AppearanceLaw()}, nodules={"prob": 2})
    with pytest.raises(ConfigError, match=r"^mine\.elongation\.long = \[0\.5, 2\.0\] lies outside"):
        GeneratorConfig(name="mine", appearance={"default": AppearanceLaw()}, elongation={"long": [0.5, 2]})


def test_checked_values_are_normalised():
    rules = PlacementRules(min_gap_mm=3, location_prior={"right": 2})
    assert rules.min_gap_mm == 3.0 and isinstance(rules.min_gap_mm, float) and rules.location_prior == {"right": 2.0}
    config = TrainConfig(channels=[8, 16], patch_size=[16.0, 16, 16], spacing_mm=[2, 2, 2])
    assert config.channels == (8, 16) and config.patch_size == (16, 16, 16) and config.spacing_mm == (2.0, 2.0, 2.0)
    assert DataConfig(cube_voxels=16.0).cube_voxels == 16 and isinstance(DataConfig(cube_voxels=16.0).cube_voxels, int)
    with pytest.raises(ConfigError, match="must be a whole number"):
        SampleConfig(ddim_steps=2.5)
    with pytest.raises(ConfigError, match="must be true or false"):
        PlacementRules(allow_confluent=1)
    with pytest.raises(ConfigError, match="must be a number"):
        AppearanceLaw(calcification_prob=float("nan"))
