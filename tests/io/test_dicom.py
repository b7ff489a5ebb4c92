"""Tests for synthtumor.io.dicom on synthetic series written with pydicom."""

from __future__ import annotations

import json
import random
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

from synthtumor.errors import CaseFileError, InvalidCaseError
from synthtumor.io.dicom import DicomVolume, read_dicom_series

STANDARD = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
PYDICOM3 = int(pydicom.__version__.split(".")[0]) >= 3


def _save(ds: FileDataset, path: Path) -> None:
    if PYDICOM3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pydicom 2.x
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)


def _dataset(path: Path, sop_class=CTImageStorage, syntax=ExplicitVRLittleEndian) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    return ds


def write_series(folder: Path, data: np.ndarray, *, origin=(-50.0, -60.0, 100.0),
                 iop=STANDARD, spacing=(0.8, 0.6), step=(0.0, 0.0, 2.5), thickness=2.5,
                 slope=1.0, intercept=0.0, modality="CT", series_uid=None,
                 description="test series", skip=(), seed=0, prefix="", **extra) -> str:
    """Write ``data`` (column index, row index, slice) as one series, in shuffled order.

    Slice k lies at origin + k * step (LPS mm); spacing is DICOM's (row, column) PixelSpacing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    order = list(range(data.shape[2]))
    random.Random(seed).shuffle(order)  # file names and InstanceNumbers unrelated to position
    for n, k in enumerate(order):
        if k in skip:
            continue
        path = folder / f"{prefix}{series_uid[-6:]}_{n:03d}.dcm"
        ds = _dataset(path)
        ds.Modality = modality
        ds.SeriesInstanceUID = series_uid
        ds.SeriesDescription = description
        ds.InstanceNumber = n + 1
        ds.ImagePositionPatient = [float(o + k * s) for o, s in zip(origin, step)]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [float(v) for v in spacing]
        ds.SliceThickness = thickness
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        pixels = np.ascontiguousarray(data[:, :, k].T.astype(np.int16))  # (rows, columns)
        ds.Rows, ds.Columns = pixels.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation, ds.SamplesPerPixel = 1, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = pixels.tobytes()
        for key, value in extra.items():
            setattr(ds, key, value)
        _save(ds, path)
    return series_uid


def pattern(shape=(4, 5, 6)) -> np.ndarray:
    """Distinct value in every voxel (column index, row index, slice)."""
    return np.arange(np.prod(shape), dtype=np.int16).reshape(shape)


def assert_geometry(vol: DicomVolume, data, *, origin=(-50.0, -60.0, 100.0), iop=STANDARD,
                    spacing=(0.8, 0.6), step=(0.0, 0.0, 2.5)) -> None:
    """Every written voxel's value sits where the affine puts its DICOM world position."""
    i, j, k = np.meshgrid(*(np.arange(n) for n in data.shape), indexing="ij")
    row_cos, col_cos = np.asarray(iop[:3]), np.asarray(iop[3:])
    lps = (np.asarray(origin)[:, None] + np.outer(row_cos * spacing[1], i.ravel())
           + np.outer(col_cos * spacing[0], j.ravel()) + np.outer(step, k.ravel()))
    ras = np.vstack([-lps[0], -lps[1], lps[2], np.ones(lps.shape[1])])
    idx = np.linalg.inv(vol.affine) @ ras
    assert np.allclose(idx, np.round(idx), atol=1e-4)
    idx = np.round(idx[:3]).astype(int)
    assert vol.image[idx[0], idx[1], idx[2]].tolist() == data.ravel().astype(np.float32).tolist()


def test_shuffled_files_sort_by_position_and_axes_are_ras(tmp_path):
    data = pattern()
    uid = write_series(tmp_path, data)
    vol = read_dicom_series(tmp_path)
    assert vol.series_uid == uid
    assert vol.image.dtype == np.float32 and vol.affine.dtype == np.float64
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    # LPS-standard orientation: columns run to the Left, rows to Posterior -> both flipped.
    assert np.array_equal(vol.image, data[::-1, ::-1, :].astype(np.float32))
    assert_geometry(vol, data)


def test_known_voxel_lands_at_its_ras_index_and_world_position(tmp_path):
    data = np.zeros((4, 5, 3), dtype=np.int16)  # 4 columns, 5 rows: catches a transpose
    data[1, 3, 2] = 1000
    write_series(tmp_path, data, origin=(10.0, 20.0, 30.0), spacing=(0.8, 0.6))
    vol = read_dicom_series(tmp_path)
    assert vol.image.shape == (4, 5, 3)
    ijk = np.unravel_index(np.argmax(vol.image), vol.image.shape)
    assert ijk == (4 - 1 - 1, 5 - 1 - 3, 2)
    lps = np.array([10.0 + 1 * 0.6, 20.0 + 3 * 0.8, 30.0 + 2 * 2.5])
    assert np.allclose(vol.affine @ [*ijk, 1], [-lps[0], -lps[1], lps[2], 1])
    assert np.allclose(nib.affines.voxel_sizes(vol.affine), [0.6, 0.8, 2.5])


def test_spacing_comes_from_positions_not_slice_thickness(tmp_path):
    write_series(tmp_path, pattern(), thickness=5.0, step=(0.0, 0.0, 2.5))
    vol = read_dicom_series(tmp_path)
    assert np.allclose(nib.affines.voxel_sizes(vol.affine), [0.6, 0.8, 2.5])
    assert vol.slice_thickness_mm == 5.0


def test_rescale_slope_and_intercept_applied(tmp_path):
    data = np.full((3, 3, 3), 100, dtype=np.int16)
    write_series(tmp_path, data, slope=2.0, intercept=-1024.0)
    vol = read_dicom_series(tmp_path)
    assert vol.image.dtype == np.float32
    assert np.all(vol.image == -824.0)


def test_missing_slice_raises_naming_the_gap(tmp_path):
    write_series(tmp_path, pattern((3, 3, 8)), skip={4})
    with pytest.raises(InvalidCaseError, match=r"gap of 5\.000 mm.*1 slice\(s\) missing") as err:
        read_dicom_series(tmp_path)
    assert err.value.case == str(tmp_path) and err.value.fix


def test_duplicated_position_raises(tmp_path):
    uid = write_series(tmp_path, pattern((3, 3, 4)), seed=1)
    write_series(tmp_path, pattern((3, 3, 4)), seed=2, series_uid=uid, prefix="again")
    with pytest.raises(InvalidCaseError, match="share the position"):
        read_dicom_series(tmp_path)


def test_irregular_spacing_raises(tmp_path):
    uid = write_series(tmp_path, pattern((3, 3, 4)), step=(0.0, 0.0, 2.5))
    write_series(tmp_path, pattern((3, 3, 1)), origin=(-50.0, -60.0, 108.7), series_uid=uid,
                 prefix="extra")  # 1.2 mm after the last slice at 107.5
    with pytest.raises(InvalidCaseError, match="irregular slice spacing"):
        read_dicom_series(tmp_path)


def test_two_series_need_series_uid(tmp_path):
    first = write_series(tmp_path, np.zeros((3, 3, 3), np.int16), description="soft tissue")
    second = write_series(tmp_path, np.full((3, 3, 4), 7, np.int16), description="bone")
    with pytest.raises(InvalidCaseError, match="series_uid") as err:
        read_dicom_series(tmp_path)
    assert first in str(err.value) and second in str(err.value) and "bone" in str(err.value)
    assert "4 slices" in str(err.value)
    vol = read_dicom_series(tmp_path, series_uid=second)
    assert vol.series_uid == second and vol.image.shape == (3, 3, 4) and np.all(vol.image == 7)
    with pytest.raises(InvalidCaseError, match="no series with SeriesInstanceUID"):
        read_dicom_series(tmp_path, series_uid="1.2.3")


def test_single_ct_series_chosen_among_other_modalities(tmp_path):
    ct = write_series(tmp_path, np.zeros((3, 3, 3), np.int16))
    write_series(tmp_path, np.zeros((3, 3, 3), np.int16), modality="PT")
    assert read_dicom_series(tmp_path).series_uid == ct


def test_non_ct_modality_raises(tmp_path):
    write_series(tmp_path, pattern(), modality="MR")
    with pytest.raises(InvalidCaseError, match="CT is expected"):
        read_dicom_series(tmp_path)


def test_non_dicom_files_are_ignored(tmp_path):
    write_series(tmp_path, pattern())
    (tmp_path / "notes.txt").write_text("not a scan")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    no_pixels = _dataset(tmp_path / "DICOMDIR", sop_class="1.2.840.10008.1.3.10")
    _save(no_pixels, tmp_path / "DICOMDIR")  # DICOM, but no image in it
    assert read_dicom_series(tmp_path).image.shape == (4, 5, 6)


def test_empty_or_missing_folder_raises(tmp_path):
    with pytest.raises(CaseFileError, match="no DICOM image files"):
        read_dicom_series(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(CaseFileError, match="no DICOM image files"):
        read_dicom_series(tmp_path)
    with pytest.raises(CaseFileError, match="does not exist"):
        read_dicom_series(tmp_path / "nope")
    with pytest.raises(CaseFileError, match="not a folder"):
        read_dicom_series(tmp_path / "readme.txt")


def test_feet_first_reversed_slices_give_the_same_ras_volume(tmp_path):
    data = pattern()
    write_series(tmp_path / "hf", data)
    # Feet first supine: row direction flipped, so the normal points to the feet and the
    # slices are stacked from the top down. Same anatomy, same world positions.
    flipped = data[::-1, :, ::-1]
    origin = (-50.0 + 3 * 0.6, -60.0, 100.0 + 5 * 2.5)
    write_series(tmp_path / "ff", flipped, iop=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), origin=origin,
                 step=(0.0, 0.0, -2.5), seed=3)
    head_first, feet_first = read_dicom_series(tmp_path / "hf"), read_dicom_series(tmp_path / "ff")
    assert np.array_equal(head_first.image, feet_first.image)
    assert np.allclose(head_first.affine, feet_first.affine)


@pytest.mark.parametrize("iop", [
    STANDARD,
    (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),  # coronal
    (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
    (np.cos(0.5), np.sin(0.5), 0.0, -np.sin(0.5), np.cos(0.5), 0.0),  # oblique axial
])
def test_orientations_give_ras_axes_and_correct_geometry(tmp_path, iop):
    data = pattern()
    step = tuple(2.5 * np.cross(iop[:3], iop[3:]))
    write_series(tmp_path, data, iop=iop, step=step)
    vol = read_dicom_series(tmp_path)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert_geometry(vol, data, iop=iop, step=step)


def test_gantry_tilt_gives_sheared_but_exact_affine(tmp_path):
    t = np.deg2rad(15)
    iop = (1.0, 0.0, 0.0, 0.0, np.cos(t), np.sin(t))
    data = pattern()
    write_series(tmp_path, data, iop=iop, step=(0.0, 0.0, 2.5))  # table moves along z
    vol = read_dicom_series(tmp_path)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    assert_geometry(vol, data, iop=iop, step=(0.0, 0.0, 2.5))


def test_mixed_orientations_raise(tmp_path):
    uid = write_series(tmp_path, pattern((3, 3, 3)))
    write_series(tmp_path, pattern((3, 3, 1)), iop=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
                 origin=(0.0, 0.0, 0.0), series_uid=uid, prefix="coronal")
    with pytest.raises(InvalidCaseError, match="different orientations"):
        read_dicom_series(tmp_path)


def test_metadata_is_json_able(tmp_path):
    write_series(tmp_path, pattern(), Manufacturer="ACME", ConvolutionKernel=["B30f", "Qr40"],
                 ContrastBolusAgent="Iomeron")
    vol = read_dicom_series(tmp_path)
    assert vol.metadata == {"Modality": "CT", "Manufacturer": "ACME",
                            "ConvolutionKernel": ["B30f", "Qr40"],
                            "ContrastBolusAgent": "Iomeron", "SeriesDescription": "test series"}
    json.dumps(vol.metadata)


def test_compressed_without_decoder_raises_case_file_error(tmp_path):
    from pydicom.encaps import encapsulate

    ds = _dataset(tmp_path / "a.dcm", syntax=JPEGLSLossless)
    ds.Modality, ds.SeriesInstanceUID = "CT", generate_uid()
    ds.ImageOrientationPatient, ds.PixelSpacing = list(STANDARD), [1.0, 1.0]
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation, ds.SamplesPerPixel = 1, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    for z in (0.0, 1.0):
        ds.ImagePositionPatient = [0.0, 0.0, z]
        ds.PixelData = encapsulate([b"\xff\xd8 not really jpeg-ls \xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        _save(ds, tmp_path / f"{z}.dcm")
    with pytest.raises(CaseFileError, match="pixel data") as err:
        read_dicom_series(tmp_path)
    assert "pylibjpeg" in err.value.fix


def test_slice_shifted_in_plane_raises(tmp_path):
    uid = write_series(tmp_path, pattern((3, 3, 3)))
    write_series(tmp_path, pattern((3, 3, 1)), origin=(-47.0, -60.0, 107.5), series_uid=uid,
                 prefix="shifted")
    with pytest.raises(InvalidCaseError, match="not on a line"):
        read_dicom_series(tmp_path)
