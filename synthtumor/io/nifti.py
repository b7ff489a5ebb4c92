"""NIfTI reading and writing with nibabel: RAS+ in memory, the original geometry on disk.

On load, arrays are reoriented to nibabel's closest canonical orientation (RAS+) with
``io_orientation`` / ``apply_orientation``; the on-disk affine, shape, header and dtype are kept in
a :class:`~synthtumor.case.SourceGeometry`. On save, the inverse reorientation restores the
original axis order, the original affine (qform and sform, with their codes) and the header.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from synthtumor.case import SourceGeometry
from synthtumor.errors import CaseFileError, InvalidCaseError
from synthtumor.io.workdir import temp_path

__all__ = [
    "NIFTI_SUFFIXES",
    "is_nifti",
    "read_nifti",
    "to_ras",
    "from_ras",
    "write_nifti",
    "atomic_path",
    "storage_dtype",
    "ras_geometry",
]

NIFTI_SUFFIXES = (".nii.gz", ".nii")
_RAS = axcodes2ornt("RAS")


def is_nifti(path: str | os.PathLike) -> bool:
    """True if ``path`` ends in ``.nii`` or ``.nii.gz``."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def read_nifti(
    path: str | os.PathLike, *, case: str | None = None, integer: bool = False
) -> tuple[np.ndarray, SourceGeometry]:
    """Read a NIfTI file as a 3-D array in its on-disk axis order.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        case: case id for error messages.
        integer: read a label map: values must be integers (returned as int32 or smaller int).

    Returns:
        The array (float32 with scl_slope/scl_inter applied, or an integer array when
        ``integer``) and the file's :class:`SourceGeometry`.

    Raises:
        CaseFileError: the file is missing, not NIfTI, or corrupt.
        InvalidCaseError: the array is not 3-D, or a label file holds non-integer values.
    """
    path = Path(path)
    if not path.is_file():
        raise CaseFileError(f"file not found: {path}.", case=case, fix="check the path.")
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise CaseFileError(f"{path} is not a NIfTI file.", case=case)
        data = np.asanyarray(img.dataobj)
    except CaseFileError:
        raise
    except (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError) as exc:
        raise CaseFileError(
            f"cannot read {path}: {exc}.",
            case=case,
            fix="the file is corrupt or truncated; copy or convert it again.",
        ) from exc
    data = _squeeze_to_3d(data, path, case)
    if integer:
        data = _as_integer_labels(data, path, case)
    else:
        data = data.astype(np.float32, copy=False)
    header = img.header.copy()
    disk_dtype = np.dtype(header.get_data_dtype())
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if not integer and (slope != 1 or inter != 0):
        # Scaled integers (e.g. uint16 with intercept -1024) are written back as plain HU.
        disk_dtype = storage_dtype(data)
    source = SourceGeometry(
        affine=np.asarray(img.affine, dtype=np.float64).copy(),
        shape=tuple(int(n) for n in data.shape),  # type: ignore[arg-type]
        header=header,
        dtype=disk_dtype,
    )
    return data, source


def storage_dtype(image: np.ndarray) -> np.dtype:
    """int16 where every value is an integer HU that fits it, else float32."""
    lo, hi = float(image.min(initial=0.0)), float(image.max(initial=0.0))
    fits = -32768 <= lo and hi <= 32767
    if fits and np.array_equal(image, np.rint(image)):
        return np.dtype(np.int16)
    return np.dtype(np.float32)


def _squeeze_to_3d(data: np.ndarray, path: Path, case: str | None) -> np.ndarray:
    # A trailing singleton axis (X, Y, Z, 1) is common and harmless; true 4-D is not.
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InvalidCaseError(
            f"{path.name} holds a {data.ndim}-D array of shape {data.shape}; a CT volume is 3-D.",
            case=case,
            fix="give one 3-D volume per file (split 4-D series; stack 2-D slices).",
        )
    return data


def _as_integer_labels(data: np.ndarray, path: Path, case: str | None) -> np.ndarray:
    if np.issubdtype(data.dtype, np.integer):
        return data
    if np.issubdtype(data.dtype, np.bool_):
        return data.astype(np.uint8)
    rounded = np.rint(data)
    if not np.isfinite(data).all() or np.abs(data - rounded).max(initial=0.0) > 1e-3:
        raise InvalidCaseError(
            f"the label file {path.name} holds non-integer values.",
            case=case,
            fix="labels must be integer class values; was an image passed as the label?",
        )
    if rounded.min(initial=0) < 0 or rounded.max(initial=0) > np.iinfo(np.int32).max:
        raise InvalidCaseError(f"label values of {path.name} are out of range.", case=case)
    return rounded.astype(np.int32)


def ras_geometry(path: str | os.PathLike, *,
                 case: str | None = None) -> tuple[np.ndarray, tuple[int, ...], SourceGeometry]:
    """The RAS+ affine and shape a NIfTI file loads with, and its source geometry, from its header only.

    Raises:
        CaseFileError: the file is missing or not NIfTI.
    """
    path = Path(path)
    try:
        img = nib.load(str(path))
    except (OSError, nib.filebasedimages.ImageFileError) as exc:
        raise CaseFileError(f"cannot read {path}: {exc}.", case=case) from exc
    shape = tuple(int(n) for n in img.shape[:3])
    ornt = io_orientation(img.affine)
    ras_affine = np.asarray(img.affine, dtype=np.float64) @ inv_ornt_aff(ornt, shape)
    ras_shape = tuple(shape[int(axis)] for axis in np.argsort(ornt[:, 0]))
    header = img.header.copy()
    source = SourceGeometry(affine=np.asarray(img.affine, dtype=np.float64), shape=shape, header=header,
                            dtype=np.dtype(header.get_data_dtype()))
    return ras_affine, ras_shape, source


def to_ras(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient an array to nibabel's closest canonical (RAS+) orientation.

    Returns:
        The reoriented array (a view where possible) and its RAS+ affine.
    """
    ornt = io_orientation(affine)
    if np.array_equal(ornt, _RAS):
        return array, np.asarray(affine, dtype=np.float64)
    ras = apply_orientation(array, ornt)
    ras_affine = np.asarray(affine, dtype=np.float64) @ inv_ornt_aff(ornt, array.shape)
    return ras, ras_affine


def from_ras(array: np.ndarray, source: SourceGeometry) -> np.ndarray:
    """Undo :func:`to_ras`: put a RAS+ array back in the source file's axis order."""
    back = ornt_transform(_RAS, io_orientation(source.affine))
    out = apply_orientation(array, back)
    if tuple(out.shape) != tuple(source.shape):
        raise InvalidCaseError(
            f"the array shape {array.shape} does not fit the source grid {source.shape}."
        )
    return out


def atomic_path(target: Path) -> Path:
    """A new temporary file for ``target`` with the same suffix (so nibabel picks the format): in
    the output's work folder during a command, else beside ``target`` (see
    :func:`synthtumor.io.workdir.temp_path`, which also gives it the user's umask)."""
    return temp_path(target)


def write_nifti(
    array_ras: np.ndarray,
    ras_affine: np.ndarray,
    path: str | os.PathLike,
    *,
    source: SourceGeometry | None = None,
    dtype: np.dtype | type | None = None,
) -> Path:
    """Write a RAS+ array atomically, restoring the source file's geometry where there is one.

    With ``source`` (a NIfTI source), the array is put back in the original axis order and the
    original header, affine, qform and sform (with codes) are restored exactly. Without it, or
    for a source without a header (DICOM), the RAS+ array is written with ``ras_affine``.

    Args:
        array_ras: the data in RAS+ order.
        ras_affine: its RAS+ affine.
        path: target file (``.nii.gz`` or ``.nii``); written to a temporary name, then renamed.
        source: the geometry the data was loaded from.
        dtype: on-disk data type; integer types round to nearest and clip to the type's range.

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype if dtype is not None else array_ras.dtype)
    data = _cast(array_ras, dtype)
    if source is not None and source.header is not None:
        data = from_ras(data, source)
        header = source.header.copy()
        header.set_data_dtype(dtype)
        img = nib.Nifti1Image(data, source.affine, header)
        qform, qcode = source.header.get_qform(coded=True)
        sform, scode = source.header.get_sform(coded=True)
        img.set_qform(qform, int(qcode))
        img.set_sform(sform, int(scode))
    else:
        img = nib.Nifti1Image(data, ras_affine)
        img.header.set_data_dtype(dtype)
        img.set_qform(ras_affine, 1)
        img.set_sform(ras_affine, 1)
    img.header.set_slope_inter(1.0, 0.0)
    tmp = atomic_path(path)
    try:
        nib.save(img, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
            return np.clip(array, info.min, info.max).astype(dtype, copy=False)
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    return array.astype(dtype, copy=False)
