"""TotalSegmentator and AbdomenAtlas layouts (per-structure and multi-label), CSV lists and single
pairs: detection, lazy reading of only the named masks, and the same masks from every layout."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor import load_dataset
from synthtumor.errors import CaseFileError, ConfigError, DatasetLayoutError, LabelMapError
from synthtumor.io import load_pair, open_input
from synthtumor.io.structure_layouts import case_folder_kind, multilabel_file

from tests.conftest import toy_volume, write_nifti_file
from tests.io.shared_ct_layouts import CASE, LAYOUT_NAMES, split_masks, write_layout

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def toy_case(folder, masks=None, multilabel=None):
    """``folder/ct.nii.gz`` from the toy volume, with ``segmentations/<name>.nii.gz`` masks
    (name -> label value of the toy label) and/or a multi-label file of that name."""
    image, label = toy_volume()
    folder.mkdir(parents=True, exist_ok=True)
    write_nifti_file(folder / "ct.nii.gz", image, AFFINE, np.int16)
    for name, value in (masks or {}).items():
        (folder / "segmentations").mkdir(exist_ok=True)
        write_nifti_file(folder / "segmentations" / f"{name}.nii.gz", (label == value).astype(np.uint8), AFFINE)
    if multilabel:
        write_nifti_file(folder / multilabel, label, AFFINE, np.uint8)
    return folder


@pytest.mark.parametrize("name", ["seg.nii.gz", "segmentation.nii.gz", "ct_total.nii.gz"])
def test_multilabel_file_is_seg_segmentation_or_the_only_other_nifti(tmp_path, name):
    folder = toy_case(tmp_path / "s1", multilabel=name)
    assert case_folder_kind(folder) == "totalsegmentator_ml" and multilabel_file(folder).name == name
    (folder / "other.nii.gz").write_bytes(b"")
    assert (case_folder_kind(folder) is None) == (name == "ct_total.nii.gz")  # two unnamed: ambiguous


def test_per_structure_kind_follows_the_names_then_the_folder_name(tmp_path):
    assert case_folder_kind(toy_case(tmp_path / "BDMAP_1", {"liver": 1, "inferior_vena_cava": 2})) == "totalsegmentator"
    assert case_folder_kind(toy_case(tmp_path / "s1", {"liver": 1, "postcava": 2})) == "abdomenatlas"
    assert case_folder_kind(toy_case(tmp_path / "BDMAP_2", {"liver": 1})) == "abdomenatlas"
    assert case_folder_kind(toy_case(tmp_path / "s2", {"liver": 1})) == "totalsegmentator"


def test_a_folder_mixing_layouts_is_refused(tmp_path):
    toy_case(tmp_path / "a", {"liver": 1, "inferior_vena_cava": 2})
    toy_case(tmp_path / "b", multilabel="seg.nii.gz")
    with pytest.raises(DatasetLayoutError, match="mixes case folders"):
        load_dataset(tmp_path)


def test_a_names_map_reads_a_multilabel_file_through_totalsegmentator_ids(tmp_path):
    image, label = toy_volume()
    folder = toy_case(tmp_path / "s1")
    write_nifti_file(folder / "seg.nii.gz", np.where(label > 0, 5, 0).astype(np.uint8), AFFINE, np.uint8)
    (tmp_path / "map.yaml").write_text("organ: [liver]\nothers: background\n")
    case = load_dataset(folder, tmp_path / "map.yaml")[0]
    assert int(case.organ.sum()) == int((label > 0).sum())
    # a pair whose image is not ct.nii.gz has no class table to read names with
    (tmp_path / "img.nii.gz").symlink_to(folder / "ct.nii.gz")
    with pytest.raises(LabelMapError, match=r"names structures \['liver'\]"):
        load_pair(tmp_path / "img.nii.gz", folder / "seg.nii.gz", tmp_path / "map.yaml")


def test_per_structure_map_given_by_values_without_names_is_refused(tmp_path):
    toy_case(tmp_path / "s1", {"liver": 1})
    with pytest.raises(LabelMapError, match="no name for that value"):
        load_dataset(tmp_path, "decathlon_liver")


def test_csv_list_paths_are_relative_to_the_file(tmp_path):
    image, label = toy_volume()
    (tmp_path / "data").mkdir()
    write_nifti_file(tmp_path / "data" / "a.nii.gz", image, AFFINE, np.int16)
    write_nifti_file(tmp_path / "data" / "a_seg.nii.gz", label, AFFINE, np.uint8)
    (tmp_path / "lists").mkdir()
    table = tmp_path / "lists" / "cases.csv"
    table.write_text("case_id,image,label,vessels\nliver_a,../data/a.nii.gz,../data/a_seg.nii.gz,\n"
                     f"liver_b,{tmp_path / 'data' / 'a.nii.gz'},,\n")
    ds = load_dataset(table)
    assert ds.layout == "csv" and ds.case_ids == ["liver_a", "liver_b"]
    assert ds[0].tumor.sum() == (label == 2).sum() and ds[1].organ is None


@pytest.mark.parametrize("text, error, words", [
    ("id,image,label\na,x.nii.gz,\n", DatasetLayoutError, "needs \\['case_id', 'image', 'label'\\]"),
    ("case_id,image,label\na,missing.nii.gz,\n", CaseFileError, "cases.csv line 2: image not found"),
    ("case_id,image,label\n,x.nii.gz,\n", DatasetLayoutError, "line 2 has no case_id"),
])
def test_csv_list_errors_name_the_line(tmp_path, text, error, words):
    table = tmp_path / "cases.csv"
    table.write_text(text)
    with pytest.raises(error, match=words):
        load_dataset(table)


def test_input_or_image_exactly_one(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        open_input(tmp_path, image=tmp_path / "ct.nii.gz")
    with pytest.raises(ConfigError, match="no input"):
        open_input(None)


# -- the shared real CT ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(totalseg_example):
    return load_dataset(totalseg_example, phase="native")[0]  # the folder itself: ct.nii.gz + seg.nii.gz


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_every_layout_gives_the_same_masks(totalseg_example, reference, tmp_path, layout):
    inputs = write_layout(layout, totalseg_example, tmp_path / layout)
    label_map = inputs.pop("label_map", None)
    case = open_input(inputs.get("input"), inputs.get("image"), inputs.get("label"), label_map and str(label_map),
                      phase="native")[0]
    assert case.case_id == CASE
    assert int(case.organ.sum()) == 41_692 == int(reference.organ.sum())
    assert np.array_equal(case.organ, reference.organ) and np.array_equal(case.vessels, reference.vessels)
    assert np.array_equal(case.image, reference.image) and np.allclose(case.affine, reference.affine)


def test_only_the_masks_the_map_names_are_read(totalseg_example, tmp_path):
    inputs = write_layout("totalsegmentator", totalseg_example, tmp_path)  # aorta.nii.gz is garbage
    case = load_dataset(inputs["input"])[0]
    assert int(case.organ.sum()) == 41_692
    (tmp_path / "map.yaml").write_text("organ: [kidney_left, kidney_right]\nvessels: [aorta]\n")
    with pytest.raises(CaseFileError, match="aorta.nii.gz"):
        load_dataset(inputs["input"], tmp_path / "map.yaml")[0]


def test_a_named_structure_without_a_file_is_one_error_naming_the_file(totalseg_example, tmp_path):
    inputs = write_layout("abdomenatlas", totalseg_example, tmp_path)
    missing = tmp_path / CASE / "segmentations" / "portal_vein_and_splenic_vein.nii.gz"
    missing.unlink()
    with pytest.raises(CaseFileError, match=f"{CASE}.*portal_vein_and_splenic_vein.nii.gz not found") as info:
        load_dataset(inputs["input"])  # checked before any case is read
    assert "\n" not in str(info.value)
    # TotalSegmentator's names on AbdomenAtlas files: the error names the file it looked for
    with pytest.raises(CaseFileError, match="inferior_vena_cava.nii.gz not found"):
        load_dataset(inputs["input"], "totalsegmentator")


def test_kidney_map_by_name_reads_both_layouts_alike(totalseg_example, tmp_path):
    (tmp_path / "kidney.yaml").write_text("organ: [kidney_left, kidney_right]\nothers: background\n")
    per_structure = load_dataset(write_layout("totalsegmentator", totalseg_example, tmp_path / "a")["input"],
                                 tmp_path / "kidney.yaml")[0]
    multilabel = load_dataset(write_layout("totalsegmentator_ml", totalseg_example, tmp_path / "b")["input"],
                              tmp_path / "kidney.yaml")[0]
    assert per_structure.organ.sum() > 0 and np.array_equal(per_structure.organ, multilabel.organ)


def test_split_masks_round_trip(totalseg_example, tmp_path):
    folder = split_masks(totalseg_example, tmp_path / "m", corrupt=None)
    assert sorted(p.name for p in folder.iterdir())[:2] == ["inferior_vena_cava.nii.gz", "kidney_left.nii.gz"]


def test_abdomenatlas_folder_with_combined_labels_is_read_per_structure(tmp_path):
    folder = toy_case(tmp_path / "BDMAP_00000007", {"liver": 1, "postcava": 2, "portal_vein_and_splenic_vein": 2},
                      multilabel="combined_labels.nii.gz")
    assert case_folder_kind(folder) == "abdomenatlas"
    ref = load_dataset(tmp_path).refs[0]
    assert ref.case_id == "BDMAP_00000007" and ref.label is None and ref.structures == folder / "segmentations"


def test_pair_default_label_map_follows_the_file_names(tmp_path):
    image, label = toy_volume()
    folder = toy_case(tmp_path / "s1", multilabel="label.nii.gz")  # ct.nii.gz + a 0/1/2 label
    case = load_pair(folder / "ct.nii.gz", folder / "label.nii.gz")[0]
    assert case.case_id == "s1" and case.tumor.sum() == (label == 2).sum()  # 1 organ, 2 tumour
    (folder / "label.nii.gz").rename(folder / "seg.nii.gz")  # TotalSegmentator's name: its class ids
    assert load_pair(folder / "ct.nii.gz", folder / "seg.nii.gz").refs[0].label_map.name == "totalsegmentator"
