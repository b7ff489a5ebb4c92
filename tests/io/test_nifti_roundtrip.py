"""NIfTI load/save: RAS in memory, the original geometry restored on disk, exactly."""

from __future__ import annotations

import gzip
import os
import stat

import nibabel as nib
import numpy as np
import pytest

from synthtumor import CaseFileError, InvalidCaseError, load_case, save_case
from synthtumor.io.nifti import from_ras, read_nifti, to_ras, write_nifti
from synthtumor.io.workdir import current_umask

from tests.conftest import lps_affine, toy_volume, write_nifti_file

RAS_AFFINE = np.diag([0.8, 0.9, 3.0, 1.0])
RAS_AFFINE[:3, 3] = (-10.0, 20.0, -30.0)


@pytest.mark.parametrize("affine", [RAS_AFFINE, lps_affine()], ids=["RAS", "LPS"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_load_save_load_keeps_data_and_affine_exactly(tmp_path, affine, dtype):
    image, label = toy_volume()
    src = tmp_path / "src"
    src.mkdir()
    write_nifti_file(src / "img.nii.gz", image, affine, dtype)
    write_nifti_file(src / "lab.nii.gz", label, affine, np.uint8)
    first = load_case(src / "img.nii.gz", src / "lab.nii.gz", case_id="toy")
    assert nib.aff2axcodes(first.affine) == ("R", "A", "S")
    folder = save_case(first, tmp_path / "out")
    written = nib.load(str(folder / "image.nii.gz"))
    # on disk: the original orientation, affine, qform/sform codes and dtype
    np.testing.assert_array_equal(written.affine, nib.load(str(src / "img.nii.gz")).affine)
    np.testing.assert_allclose(written.affine, affine, atol=1e-5)
    assert written.get_data_dtype() == np.dtype(dtype)
    assert int(written.header["sform_code"]) == 1 and int(written.header["qform_code"]) == 1
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), image.astype(dtype))
    second = load_case(folder / "image.nii.gz", folder / "label.nii.gz", case_id="toy")
    np.testing.assert_array_equal(second.image, first.image)
    np.testing.assert_array_equal(second.affine, first.affine)
    np.testing.assert_array_equal(second.label, first.label)


def test_lps_file_is_reoriented_so_world_positions_agree(tmp_path):
    image, _ = toy_volume()
    affine = lps_affine()
    write_nifti_file(tmp_path / "img.nii.gz", image, affine, np.int16)
    case = load_case(tmp_path / "img.nii.gz")
    # a voxel's world coordinate is the same before and after reorientation
    ijk = np.array([4, 7, 3, 1.0])
    world = affine @ ijk
    ras_ijk = np.rint(np.linalg.solve(case.affine, world)).astype(int)
    assert case.image[tuple(ras_ijk[:3])] == image[4, 7, 3]
    assert case.spacing == pytest.approx((0.7, 0.7, 5.0))


def test_to_ras_and_back_is_identity_for_every_axis_permutation():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 6, 7)).astype(np.float32)
    perm = np.eye(4)[[2, 0, 1, 3]]
    affine = np.diag([-1.0, 2.0, -3.0, 1.0]) @ perm
    ras, ras_affine = to_ras(data, affine)
    assert nib.aff2axcodes(ras_affine) == ("R", "A", "S")
    from synthtumor.case import SourceGeometry

    back = from_ras(ras, SourceGeometry(affine=affine, shape=data.shape))
    np.testing.assert_array_equal(back, data)


def test_qform_and_sform_that_differ_are_both_restored(tmp_path):
    image, _ = toy_volume()
    img = nib.Nifti1Image(image.astype(np.int16), RAS_AFFINE)
    img.set_sform(RAS_AFFINE, 2)
    q = RAS_AFFINE.copy()
    q[0, 3] += 0.5
    img.set_qform(q, 1)
    nib.save(img, str(tmp_path / "img.nii.gz"))
    case = load_case(tmp_path / "img.nii.gz")
    folder = save_case(case, tmp_path / "out")
    out = nib.load(str(folder / "image.nii.gz")).header
    np.testing.assert_allclose(out.get_qform(), q, atol=1e-5)
    assert int(out["qform_code"]) == 1 and int(out["sform_code"]) == 2
    np.testing.assert_array_equal(out.get_sform(), img.header.get_sform())


def test_scaled_uint16_is_read_as_hu_and_written_as_int16(tmp_path):
    image, _ = toy_volume()
    img = nib.Nifti1Image((image + 1024).astype(np.uint16), RAS_AFFINE)
    img.header.set_slope_inter(1.0, -1024.0)
    nib.save(img, str(tmp_path / "img.nii.gz"))
    case = load_case(tmp_path / "img.nii.gz")
    np.testing.assert_array_equal(case.image, image)
    folder = save_case(case, tmp_path / "out")
    assert nib.load(str(folder / "image.nii.gz")).get_data_dtype() == np.int16
    np.testing.assert_array_equal(load_case(folder / "image.nii.gz").image, image)


def test_trailing_singleton_axis_is_squeezed_but_true_4d_refused(tmp_path):
    image, _ = toy_volume()
    write_nifti_file(tmp_path / "a.nii.gz", image[..., None], RAS_AFFINE, np.int16)
    assert load_case(tmp_path / "a.nii.gz").shape == image.shape
    write_nifti_file(tmp_path / "b.nii.gz", np.stack([image] * 3, -1), RAS_AFFINE, np.int16)
    with pytest.raises(InvalidCaseError, match="4-D"):
        load_case(tmp_path / "b.nii.gz")
    write_nifti_file(tmp_path / "c.nii.gz", image[:, :, 0], RAS_AFFINE, np.int16)
    with pytest.raises(InvalidCaseError, match="2-D"):
        load_case(tmp_path / "c.nii.gz")


def test_missing_and_corrupt_files_raise_case_file_error(tmp_path):
    with pytest.raises(CaseFileError, match="not found"):
        load_case(tmp_path / "nope.nii.gz")
    image, _ = toy_volume()
    good = write_nifti_file(tmp_path / "good.nii.gz", image, RAS_AFFINE, np.int16)
    raw = gzip.decompress(good.read_bytes())
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(CaseFileError, match="corrupt"):
        load_case(truncated)
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"this is not a nifti file at all" * 20)
    with pytest.raises(CaseFileError):
        load_case(garbage)


def test_label_with_fractional_values_is_refused(tmp_path):
    image, label = toy_volume()
    write_nifti_file(tmp_path / "img.nii.gz", image, RAS_AFFINE, np.int16)
    write_nifti_file(tmp_path / "lab.nii.gz", label + 0.5, RAS_AFFINE, np.float32)
    with pytest.raises(InvalidCaseError, match="non-integer"):
        load_case(tmp_path / "img.nii.gz", tmp_path / "lab.nii.gz")


def test_read_nifti_keeps_on_disk_order(tmp_path):
    image, _ = toy_volume()
    write_nifti_file(tmp_path / "img.nii.gz", image, lps_affine(), np.int16)
    data, source = read_nifti(tmp_path / "img.nii.gz")
    np.testing.assert_array_equal(data, image)
    assert source.orientation == "LPS" and source.dtype == np.int16


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask_not_the_private_temporary_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert current_umask() == umask
        path = write_nifti(np.zeros((4, 4, 4), np.int16), np.eye(4), tmp_path / "x.nii.gz")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii.gz"]
