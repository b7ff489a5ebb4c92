"""load_case: label maps, grids that must agree, CT plausibility, the real shared scan."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthtumor import InvalidCaseError, LabelMap, LabelMapError, load_case, save_case
from synthtumor.io.case_io import write_cases_index

from tests.conftest import lps_affine, toy_volume, write_nifti_file

AFFINE = np.diag([1.0, 1.0, 2.0, 1.0])


def write_pair(tmp_path, image, label, image_affine=AFFINE, label_affine=AFFINE):
    write_nifti_file(tmp_path / "img.nii.gz", image, image_affine, np.int16)
    write_nifti_file(tmp_path / "lab.nii.gz", label, label_affine, np.uint8)
    return tmp_path / "img.nii.gz", tmp_path / "lab.nii.gz"


def test_default_label_map_is_organ_1_tumor_2_and_organ_includes_tumor(tmp_path):
    image, label = toy_volume()
    case = load_case(*write_pair(tmp_path, image, label))
    assert case.organ.sum() == (label > 0).sum()
    assert case.tumor.sum() == (label == 2).sum()
    assert case.vessels is None


def test_image_label_shape_mismatch(tmp_path):
    image, label = toy_volume()
    with pytest.raises(InvalidCaseError, match="shape"):
        load_case(*write_pair(tmp_path, image, label[:, :, :-1]))


def test_affines_that_disagree_beyond_tolerance(tmp_path):
    image, label = toy_volume()
    shifted = AFFINE.copy()
    shifted[0, 3] += 5.0
    with pytest.raises(InvalidCaseError, match="affines disagree"):
        load_case(*write_pair(tmp_path, image, label, AFFINE, shifted))
    nudged = AFFINE.copy()
    nudged[0, 3] += 1e-4  # float noise in headers is tolerated
    assert load_case(*write_pair(tmp_path, image, label, AFFINE, nudged)).organ.any()


def test_label_in_another_orientation_on_the_same_grid_is_accepted(tmp_path):
    image, label = toy_volume()
    affine = lps_affine(spacing=(1.0, 1.0, 2.0))
    flipped = affine @ np.array([[-1, 0, 0, image.shape[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    case = load_case(*write_pair(tmp_path, image, label[::-1], affine, flipped))
    assert case.tumor.sum() == (label == 2).sum()


def test_empty_organ_mask(tmp_path):
    image, label = toy_volume()
    with pytest.raises(InvalidCaseError, match="organ mask is empty"):
        load_case(*write_pair(tmp_path, image, np.where(label == 1, 3, 0)), LabelMap(organ=(1,), others="background"))


def test_unknown_label_values(tmp_path):
    image, label = toy_volume()
    label[0, 0, 0] = 7
    with pytest.raises(LabelMapError, match=r"values \[7\]"):
        load_case(*write_pair(tmp_path, image, label))


@pytest.mark.parametrize("scale", ["mr", "unit"])
def test_mr_like_or_normalised_intensities_are_refused(tmp_path, scale):
    image, label = toy_volume()
    image = image + 1000.0 if scale == "mr" else (image + 1000.0) / 2000.0
    write_nifti_file(tmp_path / "img.nii.gz", image, AFFINE, np.float32)
    with pytest.raises(InvalidCaseError, match="does not look like CT"):
        load_case(tmp_path / "img.nii.gz")
    assert load_case(tmp_path / "img.nii.gz", expect_ct=False).shape == image.shape


def test_vessel_and_avoid_files_add_masks(tmp_path):
    image, label = toy_volume()
    img, lab = write_pair(tmp_path, image, label)
    vessels = np.zeros_like(label)
    vessels[7, 7, 4] = 1
    write_nifti_file(tmp_path / "v.nii.gz", vessels, AFFINE, np.uint8)
    case = load_case(img, lab, vessels_path=tmp_path / "v.nii.gz", avoid_path=tmp_path / "v.nii.gz")
    assert case.vessels.sum() == 1 and case.avoid.sum() == 1


def test_case_without_organ_round_trips_through_a_case_folder(tmp_path):
    from synthtumor import load_dataset

    image, label = toy_volume()
    img, lab = write_pair(tmp_path, image, np.where(label == 1, 1, label))
    case = load_case(img, lab, LabelMap(vessels=(1,), tumor=(2,)), case_id="t08", phase="portal")
    assert case.organ is None
    save_case(case, tmp_path / "ds")
    write_cases_index(tmp_path / "ds", ["t08"], name="t", description="test")
    again = load_dataset(tmp_path / "ds")[0]
    assert again.organ is None and again.phase.value == "portal"
    np.testing.assert_array_equal(again.tumor, case.tumor)
    meta = json.loads((tmp_path / "ds" / "t08" / "case.json").read_text())
    assert meta["has_organ"] is False


def test_totalsegmentator_example_loads_liver_and_vessels(totalseg_example):
    case = load_case(
        totalseg_example / "ct.nii.gz", totalseg_example / "seg.nii.gz", "totalsegmentator"
    )
    assert int(case.organ.sum()) == 41_692
    # vessels are labels 63 (IVC, 2,266 voxels) and 64 (portal/splenic vein, 1,086 voxels)
    assert int(case.vessels.sum()) == 2_266 + 1_086
    assert case.tumor is None
    liver_hu = np.median(case.image[case.organ])
    assert 30 < liver_hu < 60  # non-contrast liver


def test_totalsegmentator_without_label_map_refuses_unknown_values(totalseg_example):
    with pytest.raises(LabelMapError, match="does not know"):
        load_case(totalseg_example / "ct.nii.gz", totalseg_example / "seg.nii.gz")
