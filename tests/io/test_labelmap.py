"""Label maps: YAML presets, roles shared by one value, inferred roles, bad maps."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor import LabelMap, LabelMapError


def test_presets_load():
    ts = LabelMap.preset("totalsegmentator")
    assert ts.organ == (5,) and ts.vessels == (63, 64) and ts.others == "background"
    assert LabelMap.preset("decathlon_liver").tumor == (2,)


def test_one_value_may_serve_two_roles():
    lm = LabelMap(organ=(1, 3), vessels=(3,), tumor=(2,))
    label = np.array([0, 1, 2, 3])
    m = lm.masks(label)
    assert m.organ.tolist() == [False, True, True, True]
    assert m.vessels.tolist() == [False, False, False, True]
    assert m.avoid is None


def test_from_names_infers_roles():
    lm = LabelMap.from_names({0: "background", 1: "Vessel", 2: "Tumour"})
    assert lm.organ == () and lm.vessels == (1,) and lm.tumor == (2,)
    lm = LabelMap.from_names({0: "background", 1: "pancreas", 2: "cancer"})
    assert lm.organ == (1,) and lm.tumor == (2,)


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("organ: [5]\nvessels: [63, 64]\navoid: [4]\n")
    lm = LabelMap.from_yaml(path)
    assert LabelMap.from_dict(lm.to_dict()) == lm


@pytest.mark.parametrize(
    "text, words",
    [
        ("organ: [1]\nlesions: [2]\n", "unknown keys"),
        ("organ: [-1]\n", "non-negative integers"),
        ("organ: [0]\n", "background"),
        ("organ: [1.5]\n", "non-negative integers"),
        ("organ: [1]\nothers: maybe\n", "others must be"),
        ("organ: [1\n", "not valid YAML"),
    ],
)
def test_bad_label_maps(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabelMapError, match=words):
        LabelMap.from_yaml(path)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(LabelMapError, match="totalsegmentator"):
        LabelMap.preset("nope")


def test_a_single_value_may_be_written_without_a_list(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("organ: 5\nvessels: [63, 64]\nothers: background\n")
    assert LabelMap.from_yaml(path).organ == (5,)
