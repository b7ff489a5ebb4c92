"""Bad inputs to the heuristic generator: each a clear error naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor import ConfigError, InvalidCaseError, LabelMap, load_case
from synthtumor.generators import GeneratorConfig, HeuristicGenerator, NoRoomError

from tests.conftest import blob_case, toy_volume, write_nifti_file


def test_no_room_for_any_lesion_raises_with_the_fix():
    gen = HeuristicGenerator.from_preset(
        "liver_hcc", counts={"large": [1, 1]}, placement={"on_no_room": "error"})
    with pytest.raises(NoRoomError, match="no room") as info:
        gen(blob_case(), np.random.default_rng(0))
    assert "on_no_room" in str(info.value) and "blob0" in str(info.value)


def test_organ_smaller_than_the_smallest_lesion_raises_even_when_shrinking():
    case = blob_case()
    tiny_organ = np.zeros(case.shape, bool)
    c = np.array(case.shape) // 2
    tiny_organ[c[0] - 1:c[0] + 2, c[1] - 1:c[1] + 2, c[2] - 1:c[2] + 2] = True
    gen = HeuristicGenerator.from_preset("liver_metastasis", counts={"small": [1, 1]})
    with pytest.raises(NoRoomError):
        gen(case.replace(organ=tiny_organ, vessels=None), np.random.default_rng(0))


def test_skip_policy_leaves_lesions_out_instead_of_placing_them_outside():
    gen = HeuristicGenerator.from_preset("liver_hcc", counts={"large": [2, 2]}, placement={"on_no_room": "skip"},
                                         size_classes_mm={"large": 60})
    prep = gen.prepare(blob_case())
    assert gen.sample(prep, np.random.default_rng(0)) == []


def test_vessels_covering_the_organ():
    case = blob_case()
    with pytest.raises(InvalidCaseError, match="covers the whole organ"):
        HeuristicGenerator.from_preset("liver_cyst")(case.replace(vessels=case.organ), np.random.default_rng(0))


def test_label_map_that_names_no_organ(tmp_path):
    image, label = toy_volume()
    write_nifti_file(tmp_path / "i.nii.gz", image, np.eye(4), np.int16)
    write_nifti_file(tmp_path / "l.nii.gz", label, np.eye(4), np.uint8)
    case = load_case(tmp_path / "i.nii.gz", tmp_path / "l.nii.gz", LabelMap(vessels=(1,), tumor=(2,)))
    with pytest.raises(InvalidCaseError, match="no organ mask") as info:
        HeuristicGenerator.from_preset("liver_cyst")(case, np.random.default_rng(0))
    assert "label map" in str(info.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown generator preset 'liver_tumour'") as info:
        HeuristicGenerator.from_preset("liver_tumour")
    assert "liver_metastasis" in str(info.value)


@pytest.mark.parametrize(
    "override, words",
    [
        ({"size_jitter": [1.2, 0.8]}, "low 1.2 is above high"),
        ({"lobulation": [0, 0.9]}, "outside"),
        ({"counts": {"huge": [1, 1]}}, "unknown size class"),
        ({"counts": {"small": [0, 0]}}, "no lesion at all"),
        ({"counts": {"small": [0.5, 1]}}, "whole numbers"),
        ({"placement": {"vessel_clearance_mm": -1}}, "vessel_clearance_mm must be >= 0"),
        ({"placement": {"on_no_room": "hope"}}, "on_no_room"),
        ({"placement": {"subcapsular_prob": 1.5}}, "subcapsular_prob"),
        ({"placement": {"location_prior": {"north": 2}}}, "location_prior"),
        ({"appearance": {"portal": {"patterns": {"spiky": 1}}}}, "unknown key 'spiky'"),
        ({"appearance": {"venous": {}}}, "unknown phase"),
        ({"appearance": {"portal": {"texture": [-1, 1]}}}, "outside"),
        ({"mass_effect_strength": [0.1, 0.9]}, "outside"),
        ({"colour": "red"}, "unknown keys"),
        ({"single_component": "yes"}, "single_component must be true or false"),
    ],
)
def test_out_of_range_config_values(override, words):
    with pytest.raises(ConfigError, match=words):
        GeneratorConfig.from_preset("liver_metastasis", **override)


def test_location_prior_steers_lesions():
    case = blob_case(vessels=False)
    gen = HeuristicGenerator.from_preset(
        "liver_metastasis", counts={"tiny": [3, 3]}, placement={"location_prior": {"right": 1, "left": 0}})
    prep = gen.prepare(case)
    xs = [s.centre_mm[0] for seed in range(10) for s in gen.sample(prep, np.random.default_rng(seed))]
    median_x = np.median(prep.block_centres_mm[:, 0])
    assert min(xs) >= median_x - prep.block_half_diagonal_mm
