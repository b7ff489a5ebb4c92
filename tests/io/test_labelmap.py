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


def test_structure_names_resolve_through_the_classes_table():
    lm = LabelMap.from_dict({"organ": ["liver"], "vessels": ["ivc", 9], "classes": {"liver": 5, "ivc": 63}})
    assert lm.organ == (5,) and lm.vessels == (9, 63) and lm.unresolved_names == ()
    assert lm.structures("organ") == ("liver",)
    with pytest.raises(LabelMapError, match="value 9"):
        lm.structures("vessels")  # 9 has no name: no file to read in a per-structure folder
    names_only = LabelMap.from_dict({"organ": "liver", "tumor": ["liver_tumor"]})
    assert names_only.organ == ("liver",) and names_only.unresolved_names == ("liver", "liver_tumor")
    with pytest.raises(LabelMapError, match="classes"):
        names_only.masks(np.array([0, 5]))
    resolved = names_only.with_classes({"liver": 5, "liver_tumor": 6}, "test table")
    assert resolved.organ == (5,) and resolved.tumor == (6,)
    assert resolved.masks(np.array([0, 5, 6])).organ.tolist() == [False, True, True]
    assert LabelMap.from_dict(resolved.to_dict()) == resolved


@pytest.mark.parametrize("text", ["organ: [../liver]\n", "organ: ['']\n", "organ: [liver]\nclasses: {liver: -1}\n"])
def test_bad_structure_names_and_classes(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabelMapError):
        LabelMap.from_yaml(path)


def test_channel_masks_keep_overlaps():
    lm = LabelMap(organ=(1,), vessels=(2, 3))
    channels = np.zeros((3, 4), np.float32)
    channels[0, :3] = 1  # organ on voxels 0..2
    channels[1, 2] = 1  # a vessel inside the organ at voxel 2
    channels[2, 3] = 1
    m = lm.channel_masks(channels)
    assert m.organ.tolist() == [True, True, True, False] and m.vessels.tolist() == [False, False, True, True]


def test_presets_name_totalsegmentator_and_abdomenatlas_structures():
    ts = LabelMap.preset("totalsegmentator")
    assert ts.structures("organ") == ("liver",)
    assert ts.structures("vessels") == ("inferior_vena_cava", "portal_vein_and_splenic_vein")
    assert len(ts.classes) == 117 and ts.class_ids["kidney_left"] == 3 and ts.class_ids["aorta"] == 52
    atlas = LabelMap.preset("abdomenatlas")
    assert atlas.organ == ("liver",) and atlas.vessels == ("portal_vein_and_splenic_vein", "postcava")


def test_totalsegmentator_table_matches_the_label_table_in_its_own_output(totalseg_example):
    """TotalSegmentator writes its class names into the NIfTI header of a multi-label file."""
    import re

    import nibabel as nib

    header = nib.load(str(totalseg_example / "seg.nii.gz")).header
    text = b"".join(ext.get_content() for ext in header.extensions).decode(errors="replace")
    written = {name: int(key) for key, name in re.findall(r'Label Key="(\d+)"[^>]*><!\[CDATA\[([^\]]+)\]\]>', text)}
    assert written == LabelMap.preset("totalsegmentator").class_ids
