"""Per-structure mask files: which files of a ``segmentations/`` folder a label map needs.

TotalSegmentator (default output) and AbdomenAtlas write one binary mask per structure,
``<folder>/<name>.nii.gz``. A label map that names structures (``organ: [liver]``) says which
files to read; no other file of the folder is opened, so a folder of 117 masks costs the reading
of the two or three the map uses.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from synthtumor.errors import CaseFileError
from synthtumor.io.labelmap import LabelMap

__all__ = ["structure_files", "structure_names_in", "NIFTI_SUFFIXES"]

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def structure_names_in(folder: Path) -> list[str]:
    """The structure names of the mask files in ``folder`` (file names without the NIfTI suffix)."""
    names = []
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        for suffix in NIFTI_SUFFIXES:
            if path.name.endswith(suffix):
                names.append(path.name[: -len(suffix)])
                break
    return sorted(names)


def structure_files(folder: Path, label_map: LabelMap, case: str | None = None) -> dict[str, list[Path]]:
    """Role -> the mask files of the structures the label map gives that role.

    Args:
        folder: the per-structure folder (e.g. ``<case>/segmentations``).
        label_map: a map naming structures (values are turned into names by its ``classes``).
        case: the case id, for messages.

    Raises:
        CaseFileError: a named structure has no file in the folder (the message names the file
            it looked for, and the nearest names that exist).
        LabelMapError: the map gives a role as a value with no structure name.
    """
    found: dict[str, list[Path]] = {}
    for role, names in label_map.role_structures().items():
        paths = []
        for name in names:
            path = next((folder / f"{name}{s}" for s in NIFTI_SUFFIXES if (folder / f"{name}{s}").is_file()), None)
            if path is None:
                raise CaseFileError(
                    f"{folder / (name + '.nii.gz')} not found: label map {label_map.name!r} names structure "
                    f"{name!r} as {role}, and {folder.name}/ has no such mask.",
                    case=case,
                    fix=_fix_for(folder, name),
                )
            paths.append(path)
        found[role] = paths
    return found


def _fix_for(folder: Path, name: str) -> str:
    present = structure_names_in(folder) if folder.is_dir() else []
    close = difflib.get_close_matches(name, present, n=3, cutoff=0.5)
    hint = f"files there with close names: {close}; " if close else ""
    return (f"{hint}pass a --label-map whose structure names match the files (TotalSegmentator and "
            "AbdomenAtlas name the inferior vena cava differently: inferior_vena_cava / postcava).")
