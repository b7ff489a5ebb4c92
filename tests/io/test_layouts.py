"""Dataset layouts: Decathlon (Task03, Task08), nnU-Net raw, LiTS, synthtumor case folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthtumor import DatasetLayoutError, load_dataset
from synthtumor.io import detect_layout

from tests.conftest import toy_volume, write_nifti_file

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def put(path, data, dtype):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_nifti_file(path, data, AFFINE, dtype)


def test_decathlon_task03_liver(tmp_path):
    image, label = toy_volume()
    for i in (0, 1):
        put(tmp_path / "imagesTr" / f"liver_{i}.nii.gz", image, np.int16)
        put(tmp_path / "labelsTr" / f"liver_{i}.nii.gz", label, np.uint8)
    # macOS resource forks that ship inside the Decathlon archives must be ignored
    (tmp_path / "imagesTr" / "._liver_0.nii.gz").write_bytes(b"\x00junk")
    meta = {
        "name": "Liver", "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "training": [{"image": f"./imagesTr/liver_{i}.nii.gz", "label": f"./labelsTr/liver_{i}.nii.gz"}
                     for i in (0, 1)],
        "test": [],
    }
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    ds = load_dataset(tmp_path)
    assert ds.layout == "decathlon" and ds.case_ids == ["liver_0", "liver_1"]
    case = ds[1]
    assert case.organ.sum() == (label > 0).sum() and case.tumor.sum() == (label == 2).sum()


def test_decathlon_task08_hepatic_vessel_has_no_organ(tmp_path):
    image, label = toy_volume()
    put(tmp_path / "imagesTr" / "hepaticvessel_001.nii.gz", image, np.int16)
    put(tmp_path / "labelsTr" / "hepaticvessel_001.nii.gz", label, np.uint8)
    meta = {
        "labels": {"0": "background", "1": "Vessel", "2": "Tumour"},
        "training": [{"image": "./imagesTr/hepaticvessel_001.nii.gz", "label": "./labelsTr/hepaticvessel_001.nii.gz"}],
    }
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    case = load_dataset(tmp_path)[0]
    assert case.organ is None
    assert case.vessels.sum() == (label == 1).sum()
    assert case.tumor.sum() == (label == 2).sum()


def test_nnunet_raw(tmp_path):
    image, label = toy_volume()
    for cid in ("liver_007", "liver_002"):
        put(tmp_path / "imagesTr" / f"{cid}_0000.nii.gz", image, np.int16)
        put(tmp_path / "labelsTr" / f"{cid}.nii.gz", label, np.uint8)
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "tumor": 2},
            "numTraining": 2, "file_ending": ".nii.gz"}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    ds = load_dataset(tmp_path)
    assert ds.layout == "nnunet" and ds.case_ids == ["liver_002", "liver_007"]
    assert ds[0].tumor.sum() == (label == 2).sum()


def test_lits_in_batch_subfolders(tmp_path):
    image, label = toy_volume()
    put(tmp_path / "Training Batch 1" / "volume-0.nii", image, np.int16)
    put(tmp_path / "Training Batch 1" / "segmentation-0.nii", label, np.uint8)
    put(tmp_path / "Training Batch 2" / "volume-28.nii", image, np.int16)
    put(tmp_path / "Training Batch 2" / "segmentation-28.nii", label, np.uint8)
    ds = load_dataset(tmp_path)
    assert ds.layout == "lits" and ds.case_ids == ["lits_000", "lits_028"]
    assert ds[1].organ.sum() == (label > 0).sum()


def test_label_map_override_and_lazy_loading(tmp_path, totalseg_example):
    # a folder pointing at the real scan through a nnU-Net layout with a TotalSegmentator map
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "imagesTr" / "ts_0000.nii.gz").symlink_to(totalseg_example / "ct.nii.gz")
    (tmp_path / "labelsTr" / "ts.nii.gz").symlink_to(totalseg_example / "seg.nii.gz")
    ds = load_dataset(tmp_path, label_map="totalsegmentator", phase="native")
    assert len(ds) == 1 and detect_layout(tmp_path) == "nnunet"
    case = next(iter(ds))
    assert int(case.organ.sum()) == 41_692 and case.phase.value == "native"


def test_unknown_layout_and_missing_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetLayoutError, match="no dataset layout"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not found"):
        load_dataset(tmp_path / "absent")


def test_an_unfinished_case_folder_is_skipped(tmp_path):
    from synthtumor.io.case_io import save_case, write_cases_index
    from tests.conftest import blob_case

    for seed in (0, 1):
        save_case(blob_case(spacing=(3.0, 3.0, 3.0), seed=seed), tmp_path)
    write_cases_index(tmp_path, ["blob0", "blob1"], name="t", description="test")
    (tmp_path / "blob1" / "case.json").unlink()  # as if killed while writing
    assert load_dataset(tmp_path).case_ids == ["blob0"]


# -- detect_layout: one test per layout, and a folder that matches none -----------------------
def _decathlon(root):
    image, label = toy_volume()
    put(root / "imagesTr" / "liver_0.nii.gz", image, np.int16)
    put(root / "labelsTr" / "liver_0.nii.gz", label, np.uint8)
    (root / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver", "2": "cancer"},
                                                   "training": [{"image": "./imagesTr/liver_0.nii.gz",
                                                                 "label": "./labelsTr/liver_0.nii.gz"}]}))
    return root


def _nnunet(root):
    image, label = toy_volume()
    put(root / "imagesTr" / "liver_0_0000.nii.gz", image, np.int16)
    put(root / "labelsTr" / "liver_0.nii.gz", label, np.uint8)
    return root


def _cases(root):
    from synthtumor.io.case_io import save_case
    from tests.conftest import blob_case

    save_case(blob_case(spacing=(4.0, 4.0, 4.0)), root)
    return root


def _lits(root):
    image, label = toy_volume()
    put(root / "volume-3.nii", image, np.int16)
    put(root / "segmentation-3.nii", label, np.uint8)
    return root


def _ts_case(root, masks=None, multilabel=None):
    image, label = toy_volume()
    put(root / "ct.nii.gz", image, np.int16)
    for name, value in (masks or {}).items():
        put(root / "segmentations" / f"{name}.nii.gz", (label == value).astype(np.uint8), np.uint8)
    if multilabel:
        put(root / multilabel, np.where(label == 1, 5, 0), np.uint8)
    return root


def _csv(root):
    _ts_case(root / "s1", multilabel="seg.nii.gz")
    (root / "cases.csv").write_text("case_id,image,label\ns1,s1/ct.nii.gz,s1/seg.nii.gz\n")
    return root / "cases.csv"


LAYOUT_BUILDERS = {
    "cases": _cases,
    "decathlon": _decathlon,
    "nnunet": _nnunet,
    "lits": _lits,
    "totalsegmentator": lambda root: _ts_case(
        root / "s0011", {"liver": 1, "inferior_vena_cava": 2, "portal_vein_and_splenic_vein": 2}).parent,
    "abdomenatlas": lambda root: _ts_case(
        root / "BDMAP_00000001", {"liver": 1, "postcava": 2, "portal_vein_and_splenic_vein": 2}).parent,
    "totalsegmentator_ml": lambda root: _ts_case(root / "s0011", multilabel="seg.nii.gz").parent,
    "csv": _csv,
}


@pytest.mark.parametrize("layout", sorted(LAYOUT_BUILDERS))
def test_detect_layout(tmp_path, layout):
    path = LAYOUT_BUILDERS[layout](tmp_path)
    assert detect_layout(path) == layout
    ds = load_dataset(path)
    assert ds.layout == layout and len(ds) == 1 and ds[0].organ.any()


@pytest.mark.parametrize("layout", ["totalsegmentator", "abdomenatlas", "totalsegmentator_ml"])
def test_detect_layout_of_one_case_folder(tmp_path, layout):
    case_folder = next(LAYOUT_BUILDERS[layout](tmp_path).iterdir())
    assert detect_layout(case_folder) == layout
    assert load_dataset(case_folder).case_ids == [case_folder.name]


def test_detect_layout_of_a_folder_matching_none_lists_what_was_looked_for(tmp_path):
    (tmp_path / "scan.nii.gz").write_bytes(b"")  # a NIfTI, but no ct.nii.gz, no dataset.json ...
    (tmp_path / "notes").mkdir()
    with pytest.raises(DatasetLayoutError) as info:
        detect_layout(tmp_path)
    message = str(info.value)
    for looked_for in ("dataset.json", "image.nii.gz", "segmentations/", "seg.nii.gz", "imagesTr/", "volume-N.nii",
                       "--image CT --label SEG", "CSV"):
        assert looked_for in message
    assert "\n" not in message
