"""Load one case from files, save one case as a case folder.

A case folder is ``<root>/<case_id>/`` with ``image.nii.gz`` (HU), ``label.nii.gz`` (0 background,
1 organ, 2 tumour), optional ``vessels.nii.gz`` and ``avoid.nii.gz`` (0/1), and ``case.json``
(case id, phase, source orientation). ``case.json`` is written last: a folder without it is an
unfinished write and is redone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.case import Case, Phase, SourceGeometry
from synthtumor.errors import CaseFileError, InvalidCaseError
from synthtumor.io.labelmap import DEFAULT_LABEL_MAP, LabelMap, resolve_label_map
from synthtumor.io.scan_checks import (
    check_ct_intensities,
    check_not_normalised,
    check_organ_present,
    check_spacing,
    spacing_limits,
)
from synthtumor.io.workdir import temp_path
from synthtumor.io.nifti import is_nifti, read_nifti, storage_dtype, to_ras, write_nifti
from synthtumor.io.structure_files import structure_files

__all__ = [
    "load_case",
    "save_case",
    "check_ct_intensities",
    "check_not_normalised",
    "check_spacing",
    "check_organ_present",
    "spacing_limits",
    "case_id_from_path",
    "is_dicom_folder",
    "write_json_atomic",
    "write_text_atomic",
    "write_cases_index",
    "CASE_FILES",
]

CASE_FILES = {
    "image": "image.nii.gz",
    "label": "label.nii.gz",
    "vessels": "vessels.nii.gz",
    "avoid": "avoid.nii.gz",
    "meta": "case.json",
}

#: Default label map for a bare image/label pair: Decathlon Task03 / LiTS (1 organ, 2 tumour).


def is_dicom_folder(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder holding at least one file with the DICOM preamble."""
    folder = Path(path)
    if not folder.is_dir():
        return False
    for item in folder.iterdir():
        if item.is_file():
            with open(item, "rb") as handle:
                if handle.read(132)[128:132] == b"DICM":
                    return True
    return False


def case_id_from_path(path: str | os.PathLike) -> str:
    """A case id from a file or folder name: ``liver_3.nii.gz`` -> ``liver_3``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip("._-")
    return cleaned or "case"


def _load_image(path: Path, case: str) -> tuple[np.ndarray, np.ndarray, SourceGeometry]:
    if path.is_dir():
        from synthtumor.io.dicom import read_dicom_series

        volume = read_dicom_series(path)
        source = SourceGeometry(
            affine=volume.affine, shape=volume.image.shape, header=None, dtype=storage_dtype(volume.image)
        )
        return volume.image, volume.affine, source
    if not path.exists():
        raise CaseFileError(f"image not found: {path}.", case=case, fix="check the path.")
    if not is_nifti(path):
        raise CaseFileError(
            f"{path.name} is neither a NIfTI file (.nii, .nii.gz) nor a DICOM folder.",
            case=case,
            fix="convert it to NIfTI, or pass the folder holding the DICOM series.",
        )
    data, source = read_nifti(path, case=case)
    image, affine = to_ras(data, source.affine)
    return image, affine, source


def _load_mask_file(
    path: Path, image: np.ndarray, affine: np.ndarray, case: str, what: str
) -> np.ndarray:
    """Read an integer label file and check it lies on the image's grid (compared in RAS+)."""
    data, source = read_nifti(path, case=case, integer=True)
    data, label_affine = to_ras(data, source.affine)
    if data.shape != image.shape:
        raise InvalidCaseError(
            f"the {what} file {path.name} has shape {data.shape} in RAS order, the image {image.shape}.",
            case=case,
            fix="give the label on the image's own voxel grid (resample it with nearest neighbour).",
        )
    shift = _grid_mismatch_mm(affine, label_affine, image.shape)
    tolerance = 0.1 * float(min(np.linalg.norm(affine[:3, :3], axis=0)))
    if shift > tolerance:
        raise InvalidCaseError(
            f"the {what} file {path.name} lies {shift:.3g} mm away from the image grid "
            f"(tolerance {tolerance:.3g} mm): their affines disagree.",
            case=case,
            fix="check that the label belongs to this image; resample it onto the image's grid.",
        )
    return np.ascontiguousarray(data)


def _grid_mismatch_mm(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> float:
    """Largest distance (mm) between where two affines put the corners of the same grid."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape], indexing="ij")).reshape(3, -1)
    corners = np.vstack([corners, np.ones((1, corners.shape[1]))])
    return float(np.linalg.norm((a @ corners - b @ corners)[:3], axis=0).max())


def load_case(
    image_path: str | os.PathLike,
    label_path: str | os.PathLike | None = None,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    vessels_path: str | os.PathLike | None = None,
    avoid_path: str | os.PathLike | None = None,
    case_id: str | None = None,
    phase: Phase | str = Phase.UNKNOWN,
    expect_ct: bool = True,
    structures: str | os.PathLike | None = None,
) -> Case:
    """Load a scan (NIfTI file or DICOM series folder) and its masks as a RAS+ :class:`Case`.

    Args:
        image_path: a ``.nii``/``.nii.gz`` file or a folder holding one DICOM CT series.
        label_path: a multi-label NIfTI file on the same grid, or None.
        label_map: which label values are organ / vessels / tumour / avoid: a LabelMap, a preset
            name (``totalsegmentator``) or a YAML path. Default: 1 organ, 2 tumour.
        vessels_path: a binary vessel mask file (adds to vessels from the label map).
        avoid_path: a binary mask of voxels no lesion may touch.
        case_id: defaults to the image file name without its suffix.
        phase: contrast phase (native, arterial, portal, delayed, unknown).
        expect_ct: refuse images that do not look like CT in HU.
        structures: instead of ``label_path``, a folder of per-structure binary masks
            ``<name>.nii.gz`` (TotalSegmentator's ``segmentations/``, AbdomenAtlas); only the files
            the label map names are read (default map: TotalSegmentator's names).

    Raises:
        CaseFileError: a file is missing or corrupt (a structure the label map names included).
        InvalidCaseError: shapes or grids disagree, values are not finite, not CT, empty organ...
        LabelMapError: the label file holds values the label map does not know.
    """
    image_path = Path(image_path)
    case = case_id or case_id_from_path(image_path)
    image, affine, source = _load_image(image_path, case)
    if expect_ct:
        check_ct_intensities(image, case)
    check_spacing(np.linalg.norm(affine[:3, :3], axis=0), case)
    masks: dict[str, np.ndarray | None] = {"organ": None, "vessels": None, "tumor": None, "avoid": None}
    if label_path is not None:
        label = _load_mask_file(Path(label_path), image, affine, case, "label")
        lm = resolve_label_map(label_map) or DEFAULT_LABEL_MAP
        cut = lm.masks(label, case=case)
        masks = {"organ": cut.organ, "vessels": cut.vessels, "tumor": cut.tumor, "avoid": cut.avoid}
    elif structures is not None:
        masks.update(_structure_masks(Path(structures), label_map, image, affine, case))
    for key, extra in (("vessels", vessels_path), ("avoid", avoid_path)):
        if extra is not None:
            binary = _load_mask_file(Path(extra), image, affine, case, key) > 0
            masks[key] = binary if masks[key] is None else (masks[key] | binary)
    return Case(image=image, affine=affine, case_id=case, phase=phase, source=source, **masks)


def _structure_masks(
    folder: Path, label_map: LabelMap | str | os.PathLike | None, image: np.ndarray, affine: np.ndarray, case: str
) -> dict[str, np.ndarray]:
    """Role masks from per-structure files: a role's mask is the union of its structures' masks
    (> 0); the organ includes the tumour, as with a multi-label file."""
    lm = resolve_label_map(label_map) or LabelMap.preset("totalsegmentator")
    masks: dict[str, np.ndarray] = {}
    for role, paths in structure_files(folder, lm, case).items():
        for path in paths:
            binary = _load_mask_file(path, image, affine, case, f"{role} structure") > 0
            masks[role] = masks[role] | binary if role in masks else binary
    if "tumor" in masks and "organ" in masks:
        masks["organ"] = masks["organ"] | masks["tumor"]
    return masks


def write_text_atomic(text: str, path: Path) -> None:
    """Write text to a temporary file (in the output's work folder during a command, else beside
    ``path``), then rename it into place."""
    tmp = temp_path(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(data: Any, path: Path) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(json.dumps(data, indent=2, sort_keys=False) + "\n", path)


def save_case(
    case: Case,
    root: str | os.PathLike,
    *,
    extra_meta: dict[str, Any] | None = None,
    extra_labels: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``case`` as the case folder ``<root>/<case_id>/`` (see module docstring).

    Files are written in the source file's orientation, affine and header where the case came
    from NIfTI; each through a temporary name and ``os.replace``; ``case.json`` last.

    Args:
        case: the case to write.
        root: the dataset folder.
        extra_meta: further JSON-able keys for ``case.json``.
        extra_labels: further integer volumes on the case's grid, written as ``<name>.nii.gz``
            (uint8 when the values fit, else int16) before ``case.json``.

    Returns:
        The case folder.

    Raises:
        CaseFileError: the folder cannot be written, or ``root`` is inside an input file's path.
    """
    folder = Path(root) / case.case_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaseFileError(f"cannot create {folder}: {exc}.", case=case.case_id) from exc
    (folder / CASE_FILES["meta"]).unlink(missing_ok=True)  # the folder is unfinished until case.json is back
    source = case.source
    image_dtype = source.dtype if source is not None else storage_dtype(case.image)
    write_nifti(case.image, case.affine, folder / CASE_FILES["image"], source=source, dtype=image_dtype)
    write_nifti(case.label, case.affine, folder / CASE_FILES["label"], source=source, dtype=np.uint8)
    for key in ("vessels", "avoid"):
        mask = getattr(case, key)
        path = folder / CASE_FILES[key]
        if mask is not None:
            write_nifti(mask.astype(np.uint8), case.affine, path, source=source, dtype=np.uint8)
        elif path.exists():
            path.unlink()
    for name, volume in (extra_labels or {}).items():
        dtype = np.uint8 if int(volume.max(initial=0)) < 256 and int(volume.min(initial=0)) >= 0 else np.int16
        write_nifti(volume, case.affine, folder / f"{name}.nii.gz", source=source, dtype=dtype)
    meta = {
        "case_id": case.case_id,
        "phase": case.phase.value,
        "has_organ": case.organ is not None,
        "orientation_on_disk": source.orientation if source is not None else "RAS",
        "shape": list(case.shape),
        "spacing_mm": [round(s, 6) for s in case.spacing],
    }
    meta.update(extra_meta or {})
    write_json_atomic(meta, folder / CASE_FILES["meta"])
    return folder


def write_cases_index(
    root: str | os.PathLike, case_ids: list[str], *, name: str, description: str, **extra: Any
) -> Path:
    """Write ``<root>/dataset.json`` for a case-folder dataset (``"format": "synthtumor-cases"``).

    Args:
        root: the dataset folder.
        case_ids: the cases it holds, in order.
        name: a short dataset name.
        description: one sentence on what the data are (say so when they are synthetic).
        **extra: further JSON-able keys (e.g. an anatomy legend).
    """
    path = Path(root) / "dataset.json"
    data: dict[str, Any] = {
        "format": "synthtumor-cases",
        "name": name,
        "description": description,
        "labels": {"0": "background", "1": "organ", "2": "tumor"},
        "files": {k: v for k, v in CASE_FILES.items()},
        "numCases": len(case_ids),
        "cases": list(case_ids),
    }
    data.update(extra)
    write_json_atomic(data, path)
    return path
