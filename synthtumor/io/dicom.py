"""Reading one CT series from a folder of DICOM files into a RAS+ volume.

Slices are sorted by their position along the slice normal (never by InstanceNumber or file
name), the through-plane spacing comes from those positions (never from SliceThickness), and
the result is reoriented to nibabel's closest canonical orientation, so that the array axes
run towards patient Right, Anterior and Superior.

Spacing tolerance: consecutive slice distances may differ from their median by at most
``max(SPACING_ATOL_MM, SPACING_RTOL * median)`` (0.01 mm or 1 %, whichever is larger);
beyond that the series is rejected as having a missing, duplicated or irregular slice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from synthtumor.errors import CaseFileError, InvalidCaseError

__all__ = ["DicomVolume", "read_dicom_series", "SPACING_ATOL_MM", "SPACING_RTOL"]

SPACING_ATOL_MM = 0.01
SPACING_RTOL = 0.01
_ORIENTATION_ATOL = 1e-4
_METADATA_KEYS = ("Modality", "Manufacturer", "ConvolutionKernel", "ContrastBolusAgent",
                  "SeriesDescription")
_REQUIRED = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns")
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_DECODER_FIX = ("install a decoder for this transfer syntax (`pip install pylibjpeg "
                "pylibjpeg-libjpeg pylibjpeg-openjpeg` or `pip install python-gdcm`), or "
                "decompress the series first (e.g. `gdcmconv --raw`).")


@dataclass(frozen=True, eq=False)
class DicomVolume:
    """A CT series as a RAS+ volume.

    Attributes:
        image: float32 array of Hounsfield units, axes (X, Y, Z) running towards patient
            Right, Anterior, Superior (nibabel's closest canonical orientation).
        affine: 4x4 float64 map from voxel index to world RAS+ coordinates in mm (NIfTI
            convention: DICOM LPS coordinates with x and y negated). Oblique for oblique
            series; sheared for gantry-tilted ones (exact, nothing is resampled).
        series_uid: the SeriesInstanceUID that was read.
        slice_thickness_mm: SliceThickness as stated in the header (mm), for information
            only; the voxel spacing comes from the slice positions. None when absent.
        metadata: JSON-able header facts where present: Modality, Manufacturer,
            ConvolutionKernel, ContrastBolusAgent, SeriesDescription.
    """

    image: np.ndarray
    affine: np.ndarray
    series_uid: str
    slice_thickness_mm: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None) -> DicomVolume:
    """Read one CT series from a folder of DICOM files (subfolders are not searched).

    Non-DICOM files and DICOM files without pixel data (DICOMDIR, reports) are skipped.

    Args:
        folder: folder holding the series' files.
        series_uid: SeriesInstanceUID to read; needed only when the folder holds more than
            one CT series.

    Returns:
        The series as a :class:`DicomVolume` (float32 HU, RAS+ axes, affine in mm).

    Raises:
        CaseFileError: the folder is missing, holds no DICOM images, or a file cannot be read
            or decoded (e.g. a compressed transfer syntax without its decoder installed).
        InvalidCaseError: the series is ambiguous or not CT, or its geometry is unusable
            (mixed orientations or sizes, missing / duplicated slices, irregular spacing).
    """
    case = str(folder)
    series = _read_folder(Path(folder), case)
    uid = _choose_series(series, series_uid, case)
    slices = series[uid]
    modality = str(slices[0].get("Modality", ""))
    if modality != "CT":
        raise InvalidCaseError(f"series {uid} has modality {modality or 'unknown'!r}; CT is "
                               "expected.", case=case, fix="point to (or pass series_uid "
                               "of) a CT series.")
    slices, step = _sort_slices(slices, case)
    first = slices[0]
    row_cos, col_cos = np.split(_floats(first, "ImageOrientationPatient"), 2)
    row_spacing, col_spacing = _floats(first, "PixelSpacing")  # DICOM order: rows first
    # Column index i runs along the row direction, row index j along the column direction.
    lps = np.eye(4)
    lps[:3] = np.column_stack([row_cos * col_spacing, col_cos * row_spacing, step,
                               _floats(first, "ImagePositionPatient")])
    affine = _LPS_TO_RAS @ lps
    volume = np.empty((int(first.Columns), int(first.Rows), len(slices)), dtype=np.float32)
    for k, ds in enumerate(slices):
        volume[:, :, k] = _hounsfield(ds, case).T  # (rows, cols) -> (col index, row index)
    ornt = io_orientation(affine)
    image = np.ascontiguousarray(apply_orientation(volume, ornt), dtype=np.float32)
    affine = affine @ inv_ornt_aff(ornt, volume.shape)
    return DicomVolume(image=image, affine=affine.astype(np.float64), series_uid=uid,
                       slice_thickness_mm=_number(first, "SliceThickness", None),
                       metadata=_metadata(first))


def _read_folder(path: Path, case: str) -> dict[str, list[pydicom.Dataset]]:
    """Group the folder's DICOM image files by SeriesInstanceUID."""
    if not path.is_dir():
        problem = "is not a folder" if path.exists() else "does not exist"
        raise CaseFileError(f"the DICOM folder {problem}.", case=case,
                            fix="pass the folder that holds the series' DICOM files.")
    series: dict[str, list[pydicom.Dataset]] = {}
    for entry in sorted(path.iterdir()):
        if not entry.is_file():
            continue
        try:
            ds = pydicom.dcmread(entry, stop_before_pixels=False, force=False)
        except InvalidDicomError:
            continue
        except Exception as exc:  # unreadable or truncated file: name it
            raise CaseFileError(f"cannot read DICOM file {entry.name}: {exc}", case=case,
                                fix="remove or replace the corrupt file.") from exc
        if "PixelData" in ds:
            series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(ds)
    if not series:
        raise CaseFileError("the folder holds no DICOM image files.", case=case,
                            fix="point to the folder that directly holds the series' DICOM "
                                "files (subfolders are not searched).")
    return series


def _choose_series(series: dict[str, list[pydicom.Dataset]], wanted: str | None,
                   case: str) -> str:
    """Pick the series to read, or explain which ones there are."""
    listing = "; ".join(
        f"{uid} ({s[0].get('Modality', '?')}, {str(s[0].get('SeriesDescription', ''))!r}, "
        f"{len(s)} slices)" for uid, s in series.items())
    if wanted is not None:
        if wanted in series:
            return wanted
        raise InvalidCaseError(f"no series with SeriesInstanceUID {wanted!r}; the folder "
                               f"holds: {listing}.", case=case,
                               fix="pass one of the listed UIDs as series_uid.")
    if len(series) == 1:
        return next(iter(series))
    ct = [uid for uid, s in series.items() if s[0].get("Modality") == "CT"]
    if len(ct) == 1:
        return ct[0]
    what = "no CT series (CT is expected)" if not ct else f"{len(ct)} CT series"
    raise InvalidCaseError(f"the folder holds {len(series)} series, {what}: {listing}.",
                           case=case, fix="pass series_uid= to choose one CT series.")


def _floats(ds: pydicom.Dataset, key: str) -> np.ndarray:
    """A multi-valued decimal tag as a float64 array."""
    return np.array([float(v) for v in ds.get(key)])


def _sort_slices(slices: list[pydicom.Dataset],
                 case: str) -> tuple[list[pydicom.Dataset], np.ndarray]:
    """Sort slices along the slice normal and check the geometry.

    Returns:
        The sorted slices and the LPS step (mm) from one slice's origin to the next.
    """
    for ds in slices:
        missing = [key for key in _REQUIRED if ds.get(key) in (None, "")]
        if missing:
            raise InvalidCaseError(f"{Path(ds.filename).name} lacks {', '.join(missing)}.",
                                   case=case, fix="export the series with its full geometry.")
    ref = slices[0]
    iop = _floats(ref, "ImageOrientationPatient")
    for ds in slices[1:]:
        if not np.allclose(_floats(ds, "ImageOrientationPatient"), iop, atol=_ORIENTATION_ATOL):
            raise InvalidCaseError("the slices have different orientations "
                                   "(ImageOrientationPatient).", case=case,
                                   fix="split the series into stacks of one orientation, or "
                                       "pass the series_uid of a single-orientation series.")
        if (ds.Rows, ds.Columns) != (ref.Rows, ref.Columns) or not np.allclose(
                _floats(ds, "PixelSpacing"), _floats(ref, "PixelSpacing")):
            raise InvalidCaseError("the slices differ in size or PixelSpacing.", case=case,
                                   fix="pass the series_uid of a consistent series.")
    if len(slices) < 2:
        raise InvalidCaseError("the series has a single slice; a volume needs at least two.",
                               case=case, fix="export the complete series.")
    normal = np.cross(iop[:3], iop[3:])
    ipp = np.array([_floats(ds, "ImagePositionPatient") for ds in slices])
    order = np.argsort(ipp @ normal, kind="stable")
    slices, ipp = [slices[i] for i in order], ipp[order]
    positions = ipp @ normal
    gaps = np.diff(positions)
    spacing = float(np.median(gaps))
    tol = max(SPACING_ATOL_MM, SPACING_RTOL * spacing)
    fix = "re-export the complete series (check for missing or duplicated files)."
    if gaps.min() <= SPACING_ATOL_MM:
        k = int(np.argmin(gaps))
        raise InvalidCaseError(f"two slices share the position {positions[k]:.3f} mm along "
                               "the slice normal (duplicated slice or several acquisitions "
                               "in one series).", case=case, fix=fix)
    bad = np.flatnonzero(np.abs(gaps - spacing) > tol)
    if bad.size:
        k = int(bad[0])
        if gaps[k] > spacing:
            missing = max(round(gaps[k] / spacing) - 1, 1)
            raise InvalidCaseError(
                f"gap of {gaps[k]:.3f} mm between the slices at {positions[k]:.3f} and "
                f"{positions[k + 1]:.3f} mm along the slice normal where the spacing is "
                f"{spacing:.3f} mm: about {missing} slice(s) missing.", case=case, fix=fix)
        raise InvalidCaseError(f"irregular slice spacing: {gaps[k]:.3f} mm at position "
                               f"{positions[k]:.3f} mm where the spacing is {spacing:.3f} mm.",
                               case=case, fix="resample the series to a uniform spacing "
                                              "(e.g. convert it with dcm2niix).")
    step = (ipp[-1] - ipp[0]) / (len(slices) - 1)
    off_line = np.linalg.norm(ipp - (ipp[0] + np.outer(np.arange(len(slices)), step)), axis=1)
    if off_line.max() > tol:
        raise InvalidCaseError("the slice origins (ImagePositionPatient) are not on a line.",
                               case=case, fix="convert the series with dcm2niix.")
    return slices, step


def _hounsfield(ds: pydicom.Dataset, case: str) -> np.ndarray:
    """Decode one slice and apply its rescale slope and intercept (float64 HU)."""
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # missing decoder or corrupt pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        compressed = syntax is not None and syntax.is_compressed
        name = syntax.name if syntax is not None else "unknown transfer syntax"
        raise CaseFileError(f"cannot decode the pixel data of {Path(ds.filename).name} "
                            f"({name}): {exc}", case=case,
                            fix=_DECODER_FIX if compressed else "replace the corrupt file."
                            ) from exc
    if pixels.shape != (int(ds.Rows), int(ds.Columns)):
        raise InvalidCaseError(f"{Path(ds.filename).name} has pixel data of shape "
                               f"{pixels.shape}; single-frame greyscale slices are expected.",
                               case=case, fix="convert multi-frame (enhanced) CT with dcm2niix.")
    slope, intercept = _number(ds, "RescaleSlope", 1.0), _number(ds, "RescaleIntercept", 0.0)
    return pixels.astype(np.float64) * slope + intercept


def _number(ds: pydicom.Dataset, key: str, default: float | None) -> float | None:
    """A single-valued numeric tag as a float, or ``default`` when absent or empty."""
    value = ds.get(key)
    return default if value in (None, "") else float(value)


def _metadata(ds: pydicom.Dataset) -> dict[str, Any]:
    """A few JSON-able header facts, where present."""
    values = {key: ds.get(key) for key in _METADATA_KEYS}
    return {key: [str(v) for v in value] if isinstance(value, MultiValue) else str(value)
            for key, value in values.items() if value not in (None, "")}
