"""The MONAI transforms draw the same lesions into the shared real CT whichever layout holds it:
a multi-label file is read through its label map, per-structure masks arrive as one channel per
structure (``monai_items``), and both become the same role masks and 0/1/2 label."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd

from synthtumor.generators import HeuristicGenerator
from synthtumor.io import monai_items, open_input
from synthtumor.transforms import ApplyLabelMapd, PrepareLesionSynthesisd, RandLesionCropd, RandLesionSynthesisd

from tests.io.shared_ct_layouts import LAYOUT_NAMES, write_layout

KEYS = ("image", "label")


@pytest.fixture(scope="module")
def items_by_layout(totalseg_example, tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    found = {}
    for name in LAYOUT_NAMES:
        inputs = write_layout(name, totalseg_example, root / name)
        label_map = inputs.pop("label_map", None)
        dataset = open_input(inputs.get("input"), inputs.get("image"), inputs.get("label"),
                             str(label_map) if label_map else None)
        found[name] = monai_items(dataset)
    return found


def _prepared(item, label_map):
    head = Compose([LoadImaged(KEYS, image_only=True), EnsureChannelFirstd(KEYS), Orientationd(KEYS, axcodes="RAS"),
                    PrepareLesionSynthesisd(KEYS, label_map=label_map, phase="native")])
    return head(dict(item))


@pytest.fixture(scope="module")
def prepared_by_layout(items_by_layout):
    return {name: _prepared(items[0], label_map) for name, (items, label_map) in items_by_layout.items()}


def _draw(prepared, transform):
    out = transform(copy.deepcopy(prepared))  # lesions are drawn in place
    return np.asarray(out["image"]), np.asarray(out["label"])


def test_per_structure_items_stack_only_the_named_masks(items_by_layout):
    items, label_map = items_by_layout["totalsegmentator"]
    assert [p.rsplit("/", 1)[-1] for p in items[0]["label"]] == [
        "liver.nii.gz", "inferior_vena_cava.nii.gz", "portal_vein_and_splenic_vein.nii.gz"]
    assert label_map.organ == (1,) and label_map.vessels == (2, 3)
    assert isinstance(items_by_layout["totalsegmentator_ml"][0][0]["label"], str)


@pytest.mark.parametrize("kind", ["synthesis", "crop"])
def test_same_lesions_from_every_layout(prepared_by_layout, kind):
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    results = {}
    for name, prepared in prepared_by_layout.items():
        if kind == "synthesis":
            transform = RandLesionSynthesisd(KEYS, generator=generator, prob=1.0).set_random_state(7)
        else:
            transform = RandLesionCropd(KEYS, generator=generator, roi_size=(48, 48, 32)).set_random_state(7)
        results[name] = _draw(prepared, transform)
    image, label = results["totalsegmentator_ml"]
    assert label.shape[0] == 1 and (label == 2).sum() > 0  # lesions were drawn
    for name, (other_image, other_label) in results.items():
        assert np.array_equal(other_image, image), name
        assert np.array_equal(other_label, label), name


def test_apply_label_map_turns_a_structure_stack_into_one_label(items_by_layout):
    labels = {}
    for name in ("totalsegmentator", "totalsegmentator_ml"):
        items, label_map = items_by_layout[name]
        load = Compose([LoadImaged("label", image_only=True), EnsureChannelFirstd("label"),
                        ApplyLabelMapd("label", label_map=label_map)])
        labels[name] = np.asarray(load({"label": items[0]["label"]})["label"])
    assert labels["totalsegmentator"].shape == labels["totalsegmentator_ml"].shape == (1, 122, 101, 112)
    assert np.array_equal(labels["totalsegmentator"], labels["totalsegmentator_ml"])
    assert int((labels["totalsegmentator"] == 1).sum()) == 41_692
