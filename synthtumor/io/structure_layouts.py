"""TotalSegmentator and AbdomenAtlas case folders: a CT named ``ct.nii.gz`` and its masks.

Three layouts, each either one case folder or a folder of case folders (case id = folder name):

``totalsegmentator``
    TotalSegmentator's default output beside its input: ``<case>/ct.nii.gz`` and
    ``<case>/segmentations/<structure>.nii.gz``, one binary mask per structure (117 of them).
``abdomenatlas``
    The same shape, as AbdomenAtlas ships it: ``BDMAP_<id>/ct.nii.gz`` and
    ``BDMAP_<id>/segmentations/<structure>.nii.gz`` with AbdomenAtlas's names (``postcava``, ...).
    Told apart from TotalSegmentator's by the name of the inferior vena cava's mask (``postcava``
    or ``inferior_vena_cava``), else by the ``BDMAP_`` folder name.
``totalsegmentator_ml``
    TotalSegmentator's multi-label output (``--ml``): ``<case>/ct.nii.gz`` and one file of class
    ids, ``seg.nii.gz`` or ``segmentation.nii.gz``, or else the only other NIfTI in the folder.

Default label maps: the ``totalsegmentator`` preset (liver; inferior vena cava, portal and
splenic vein) and the ``abdomenatlas`` preset. A label map naming structures by name reads a
multi-label file through TotalSegmentator's class table.
"""

from __future__ import annotations

import os
from pathlib import Path

from synthtumor.case import Phase
from synthtumor.errors import DatasetLayoutError
from synthtumor.io.case_io import case_id_from_path
from synthtumor.io.case_ref import CaseRef
from synthtumor.io.labelmap import LabelMap
from synthtumor.io.structure_files import NIFTI_SUFFIXES, structure_files, structure_names_in

__all__ = [
    "STRUCTURE_LAYOUTS",
    "SEGMENTATIONS",
    "CT_NAMES",
    "MULTILABEL_NAMES",
    "ct_file",
    "multilabel_file",
    "case_folder_kind",
    "find_structure_cases",
    "structure_refs",
    "default_label_map",
    "per_structure_kind",
    "describe_structures",
    "label_map_for",
]

STRUCTURE_LAYOUTS = ("totalsegmentator", "abdomenatlas", "totalsegmentator_ml")
SEGMENTATIONS = "segmentations"
CT_NAMES = ("ct.nii.gz", "ct.nii")
MULTILABEL_NAMES = ("seg.nii.gz", "segmentation.nii.gz", "seg.nii", "segmentation.nii")
_ABDOMENATLAS_PREFIX = "BDMAP_"
_ABDOMENATLAS_MARK = "postcava"  # AbdomenAtlas's name for the IVC; TotalSegmentator has no such file
_TOTALSEGMENTATOR_MARK = "inferior_vena_cava"


def _is_nifti_name(name: str) -> bool:
    return name.endswith(NIFTI_SUFFIXES) and not name.startswith(".")


def ct_file(folder: Path) -> Path | None:
    """``folder/ct.nii.gz`` (or ``ct.nii``) if it exists."""
    return next((folder / n for n in CT_NAMES if (folder / n).is_file()), None)


def multilabel_file(folder: Path) -> Path | None:
    """The multi-label file beside ``ct.nii.gz``: ``seg.nii.gz``, ``segmentation.nii.gz``, or the
    only other NIfTI file in the folder; None when there is none or several unnamed ones."""
    named = next((folder / n for n in MULTILABEL_NAMES if (folder / n).is_file()), None)
    if named is not None:
        return named
    others = [p for p in folder.iterdir() if p.is_file() and _is_nifti_name(p.name) and p.name not in CT_NAMES]
    return others[0] if len(others) == 1 else None


def _has_masks(folder: Path) -> bool:
    return folder.is_dir() and any(_is_nifti_name(p.name) for p in folder.iterdir())


def per_structure_kind(masks: Path, case_name: str = "") -> str:
    """``abdomenatlas`` or ``totalsegmentator`` for a per-structure folder: by the name each gives
    the inferior vena cava (``postcava`` / ``inferior_vena_cava``), else by a ``BDMAP_`` case name."""
    def has(name: str) -> bool:
        return any((masks / f"{name}{s}").is_file() for s in NIFTI_SUFFIXES)

    if has(_ABDOMENATLAS_MARK):
        return "abdomenatlas"
    if has(_TOTALSEGMENTATOR_MARK):
        return "totalsegmentator"
    return "abdomenatlas" if case_name.startswith(_ABDOMENATLAS_PREFIX) else "totalsegmentator"


def case_folder_kind(folder: Path) -> str | None:
    """Which of ``STRUCTURE_LAYOUTS`` the case folder ``folder`` follows, or None.

    A folder holding both ``segmentations/`` and a multi-label file (AbdomenAtlas ships
    ``combined_labels.nii.gz`` too) is read per structure: names say more than class ids.
    """
    if not folder.is_dir() or ct_file(folder) is None:
        return None
    masks = folder / SEGMENTATIONS
    if _has_masks(masks):
        return per_structure_kind(masks, folder.name)
    if multilabel_file(folder) is not None:
        return "totalsegmentator_ml"
    return None


def find_structure_cases(root: Path) -> tuple[str, list[Path]] | None:
    """(layout, case folders) when ``root`` is such a case folder or holds some; else None.

    Raises:
        DatasetLayoutError: the case folders follow different layouts.
    """
    kind = case_folder_kind(root)
    if kind is not None:
        return kind, [root]
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    kinds = {d: case_folder_kind(d) for d in folders}
    cases = [d for d, k in kinds.items() if k is not None]
    if not cases:
        return None
    found = sorted({kinds[d] for d in cases})  # type: ignore[type-var]
    if len(found) > 1:
        example = {k: next(d.name for d in cases if kinds[d] == k) for k in found}
        raise DatasetLayoutError(
            f"{root} mixes case folders of layouts {found} (e.g. {example}).",
            fix="keep one layout per dataset folder, or list the cases in a CSV file (--input cases.csv).",
        )
    return found[0], cases


def default_label_map(kind: str) -> LabelMap:
    """The preset a layout's cases are read with when no label map is given."""
    return LabelMap.preset("abdomenatlas" if kind == "abdomenatlas" else "totalsegmentator")


def label_map_for(kind: str, label_map: LabelMap | None) -> LabelMap:
    """The label map a case of layout ``kind`` is read with: the given one (names resolved through
    TotalSegmentator's class table for a multi-label file) or the layout's default.

    Raises:
        LabelMapError: a multi-label file and a map naming structures no class table knows.
    """
    lm = label_map or default_label_map(kind)
    if kind == "totalsegmentator_ml" and lm.unresolved_names:
        lm = lm.with_classes(LabelMap.preset("totalsegmentator").class_ids, "TotalSegmentator classes")
        lm.check_values("a TotalSegmentator multi-label file")
    return lm


def structure_refs(root: Path, label_map: LabelMap | None) -> tuple[str, list[CaseRef]]:
    """The layout and one :class:`CaseRef` per case folder at ``root`` (see module docstring).

    Every per-structure case is checked up front for the files its label map names (a stat per
    file, nothing read), so a missing mask stops the run before any work.

    Raises:
        DatasetLayoutError: ``root`` follows none of these layouts.
        CaseFileError: a structure the label map names has no file (naming the file).
    """
    found = find_structure_cases(root)
    if found is None:
        raise DatasetLayoutError(f"{root} holds no ct.nii.gz case folder.")
    kind, folders = found
    lm = label_map_for(kind, label_map)
    refs = []
    for folder in folders:
        case_id = case_id_from_path(Path(os.path.abspath(folder)))  # '.' -> its name; links kept
        image = ct_file(folder)
        assert image is not None  # case_folder_kind checked it
        if kind == "totalsegmentator_ml":
            refs.append(CaseRef(case_id, image, multilabel_file(folder), lm, phase=Phase.UNKNOWN.value))
        else:
            masks = folder / SEGMENTATIONS
            structure_files(masks, lm, case_id)
            refs.append(CaseRef(case_id, image, None, lm, structures=masks))
    return kind, refs


def describe_structures(folder: Path) -> str:
    """``"117 masks (liver, spleen, ...)"``: what a per-structure folder holds, for ``info``."""
    names = structure_names_in(folder)
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return f"{len(names)} masks ({shown})"
