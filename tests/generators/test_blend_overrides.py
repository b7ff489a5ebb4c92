"""A blend (``mixed``) passes the overrides of the laws its lesions take from their member preset
to every member; before, ``--set lobulation=...`` on ``mixed`` was dropped without a word."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.config import MEMBER_KEYS, GeneratorConfig

from tests.conftest import blob_case


@pytest.fixture(scope="module")
def prepared():
    generator = HeuristicGenerator.from_preset("mixed")
    return generator.prepare(blob_case(spacing=(1.5, 1.5, 2.0), seed=1))


def test_shape_overrides_reach_every_member_of_a_blend(prepared):
    generator = HeuristicGenerator.from_preset("mixed", lobulation=[0.45, 0.5], edge_width_mm=[4.0, 4.0])
    specs = generator.sample(prepared, np.random.default_rng(0))
    assert len(specs) > 5
    assert all(0.45 <= s.lobulation <= 0.5 and s.edge_width_mm == 4.0 for s in specs)


def test_appearance_overrides_reach_every_member(prepared):
    generator = HeuristicGenerator.from_preset("mixed", appearance={"portal": {"contrast_hu": [-90, -85],
                                                                             "target_hu": None}})
    assert all(m.law_for("portal").contrast_hu == (-90.0, -85.0) for m in generator.members.values())


def test_a_member_override_out_of_range_is_refused_when_the_blend_is_built():
    with pytest.raises(ConfigError, match="lobulation"):
        GeneratorConfig.from_preset("mixed", lobulation=[0.9, 0.95])


def test_without_overrides_a_blend_is_what_it_was():
    assert GeneratorConfig.from_preset("mixed").member_overrides == {}
    assert "lobulation" in MEMBER_KEYS and "counts" not in MEMBER_KEYS  # counts belong to the blend


def test_building_a_config_directly_checks_its_ranges_too():
    """Ranges live next to their fields and are checked however the object is built (before,
    only from_dict checked them)."""
    from synthtumor.generators.config import AppearanceLaw

    with pytest.raises(ConfigError, match=r"AppearanceLaw.texture = \[0.5, 50.0\] lies outside \[0, 10\]"):
        AppearanceLaw(texture=(0.5, 50.0))
    with pytest.raises(ConfigError, match="calcification_prob must be in"):
        AppearanceLaw(calcification_prob=1.5)
    with pytest.raises(ConfigError, match="unknown key 'swirl'"):
        AppearanceLaw(patterns={"swirl": 1.0})
    law = AppearanceLaw(contrast_hu=[-30, -10])
    assert law.contrast_hu == (-30.0, -10.0)  # normalised as from a file
    with pytest.raises(ConfigError, match=r"mine.lobulation = \[0.0, 0.9\] lies outside"):
        GeneratorConfig(name="mine", lobulation=(0.0, 0.9), appearance={"default": law})
    with pytest.raises(ConfigError, match="neither an appearance nor a blend"):
        GeneratorConfig(name="empty")
    with pytest.raises(ConfigError, match="liver_metastasis.appearance.portal.texture"):
        GeneratorConfig.from_preset("liver_metastasis", appearance={"portal": {"texture": [0, 99]}})
