"""PhantomConfig: defaults, YAML loading and range validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthtumor.errors import ConfigError
from synthtumor.phantom import PhantomConfig

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "configs" / "phantom" / "default.yaml"


def test_defaults_match_the_documented_ones():
    config = PhantomConfig()
    assert config.spacing == (1.5, 1.5, 2.0)
    assert config.field_of_view == (360.0, 280.0, 220.0)
    assert config.phase == "portal"
    assert config.n_lesions == 0
    assert config.noise_sigma_range == (10.0, 16.0)
    assert config.liver_volume_range == (1.3, 2.0)
    assert config.lesion_radius_range == (5.0, 20.0)


def test_default_yaml_is_the_default_config():
    assert PhantomConfig.from_yaml(DEFAULT_YAML) == PhantomConfig()


def test_yaml_lists_become_tuples_and_phase_is_normalised(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("spacing: [0.8, 0.8, 5]\nphase: Arterial\nn_lesions: 2\n")
    config = PhantomConfig.from_yaml(path)
    assert config.spacing == (0.8, 0.8, 5.0)
    assert isinstance(config.spacing, tuple)
    assert config.phase == "arterial"
    assert config.n_lesions == 2


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert PhantomConfig.from_yaml(path) == PhantomConfig()


def test_to_dict_round_trips():
    config = PhantomConfig(phase="delayed", n_lesions=3, spacing=(1.0, 1.0, 3.0))
    assert PhantomConfig.from_dict(config.to_dict()) == config


def test_unknown_yaml_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("spacing: [1, 1, 1]\nnoise_sigma: 12\n")
    with pytest.raises(ConfigError, match="noise_sigma"):
        PhantomConfig.from_yaml(path)


def test_missing_and_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        PhantomConfig.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("spacing: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        PhantomConfig.from_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        PhantomConfig.from_yaml(listy)


@pytest.mark.parametrize(
    ("changes", "words"),
    [  # each message names the key and what it allows
        ({"spacing": (-1.0, 1.0, 1.0)}, "spacing must hold numbers in [0.2, 10.0]"),
        ({"spacing": (1.0, 1.0)}, "spacing must be 3 numbers"),
        ({"spacing": (1.0, "a", 1.0)}, "spacing must be a list of numbers"),
        ({"field_of_view": (100.0, 280.0, 220.0)}, "field_of_view must be at least [340.0, 250.0, 180.0]"),
        ({"field_of_view": (360.0, 280.0, 601.0)}, "field_of_view must hold numbers <= 600.0"),
        ({"spacing": (0.2, 0.2, 0.2)}, "more than the 80,000,000 allowed. Fix: use a coarser spacing"),
        ({"phase": "venous"}, "phase must be one of ['native', 'arterial', 'portal', 'delayed']"),
        ({"n_lesions": -1}, "n_lesions must be in [0, 20]"),
        ({"n_lesions": 2.5}, "n_lesions must be a whole number"),
        ({"noise_sigma_range": (16.0, 10.0)}, "noise_sigma_range: low 16.0 is above high 10.0. Fix: write [low, high]"),
        ({"noise_sigma_range": (-1.0, 10.0)}, "noise_sigma_range = [-1.0, 10.0] lies outside [0.0, 100.0]"),
        ({"noise_sigma_range": (float("nan"), 10.0)}, "noise_sigma_range must be a range [low, high] of numbers"),
        ({"liver_volume_range": (0.5, 2.0)}, "liver_volume_range = [0.5, 2.0] lies outside [1.0, 2.4]"),
        ({"lesion_radius_range": (20.0, 5.0)}, "lesion_radius_range: low 20.0 is above high 5.0"),
        ({"psf_sigma_mm": -0.1}, "psf_sigma_mm must be in [0.0, 3.0]"),
        ({"noise_cutoff_mm": 0.5}, "noise_cutoff_mm = 0.5 must exceed noise_grain_mm = 0.9. Fix:"),
        ({"texture_hu": float("nan")}, "texture_hu must be a number"),
        ({"vessel_generations": 0}, "vessel_generations must be in [1, 6]"),
        ({"vessel_fraction": 0.5}, "vessel_fraction must be in [0.01, 0.1]"),
        ({"anatomy_variability": 3.0}, "anatomy_variability must be in [0.0, 2.0]"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field_and_its_range(changes, words):
    with pytest.raises(ConfigError) as info:
        PhantomConfig(**changes)
    assert words in str(info.value)


def test_phase_is_normalised_however_the_config_is_built():
    assert PhantomConfig(phase=" Arterial ").phase == "arterial"
    assert PhantomConfig(field_of_view=(340, 250, 180)).field_of_view == (340.0, 250.0, 180.0)
