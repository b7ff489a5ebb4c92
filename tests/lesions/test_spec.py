"""TumorSpec: JSON round trip and a clear error for each bad field."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.errors import ConfigError
from synthtumor.generators.heuristic import random_rotation
from synthtumor.lesions.spec import IntensitySpec, TumorSpec, specs_from_json, specs_to_json


def _spec(**overrides) -> TumorSpec:
    fields = dict(centre_mm=(1.0, -2.0, 3.5), radii_mm=(4.0, 5.0, 6.0),
                  rotation=tuple(map(tuple, random_rotation(np.random.default_rng(0)))), size_class="small",
                  shape_seed=3, texture_seed=4, intensity=IntensitySpec(pattern="capsule", rim_hu=20.0))
    fields.update(overrides)
    return TumorSpec(**fields)


def test_json_round_trip_is_exact():
    specs = [_spec(), _spec(mass_effect=0.2, subcapsular=True)]
    assert specs_from_json(specs_to_json(specs)) == specs


def test_rotation_written_with_six_decimals_is_accepted():
    rounded = tuple(tuple(round(v, 6) for v in row) for row in _spec().rotation)
    assert _spec(rotation=rounded).rotation == rounded


@pytest.mark.parametrize("rotation", [
    ((1, 0, 0), (0, 1, 0), (0, 0, 2)),        # not unit length
    ((1, 0, 0), (1, 0, 0), (0, 0, 1)),        # not orthogonal
    ((1, 0), (0, 1)),                         # not 3 x 3
    ((1, 0, 0), (0, 1, 0), (0, 0, "one")),    # not numbers
    "identity",
])
def test_bad_rotation_is_a_config_error(rotation):
    with pytest.raises(ConfigError, match="orthonormal"):
        _spec(rotation=rotation)


@pytest.mark.parametrize("overrides", [{"radii_mm": (1.0, 0.0, 2.0)}, {"mass_effect": 1.0},
                                       {"lobulation": 0.6, "irregularity": 0.4}])
def test_bad_geometry_is_a_config_error(overrides):
    with pytest.raises(ConfigError):
        _spec(**overrides)


def test_a_bad_manifest_record_names_its_key():
    record = _spec().to_dict()
    record["intensity"]["necrosis_fraction"] = 1.0
    with pytest.raises(ConfigError, match=r"lesion\.intensity\.necrosis_fraction must be in \[0, 1\)"):
        TumorSpec.from_dict(record)
    record["intensity"] = {"necrosis": 0.5}
    with pytest.raises(ConfigError, match="a lesion record is incomplete"):  # was a TypeError
        TumorSpec.from_dict(record)
    with pytest.raises(ConfigError, match="lobulation \\+ irregularity must be below 0.9"):
        _spec(lobulation=0.6, irregularity=0.4)
