"""Cases that are not one folder: a single image/label pair, or a CSV list of them.

``pair``
    ``--image CT --label SEG``: one scan. The case id is the image's file name without its
    suffix, or its folder's name when the image is called ``ct`` or ``image`` (TotalSegmentator,
    AbdomenAtlas and synthtumor name every scan so).
``csv``
    ``--input cases.csv`` with the header ``case_id,image,label[,vessels]``: one case a row, paths
    absolute or relative to the CSV file's folder, for data spread over several folders. An empty
    ``label`` means no label (prediction needs none).

In both, the label is a multi-label NIfTI file or a folder of per-structure masks
(TotalSegmentator's ``segmentations/``). Default label map: TotalSegmentator's for a per-structure
folder (AbdomenAtlas's when it holds ``postcava``, see :mod:`synthtumor.io.structure_layouts`)
and for ``ct.nii.gz`` with ``seg.nii.gz`` or ``segmentation.nii.gz``; otherwise 1 organ, 2 tumour.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from synthtumor.errors import CaseFileError, DatasetLayoutError
from synthtumor.io.case_io import case_id_from_path
from synthtumor.io.case_ref import CaseRef
from synthtumor.io.labelmap import LabelMap
from synthtumor.io.structure_files import structure_files
from synthtumor.io.structure_layouts import CT_NAMES, MULTILABEL_NAMES, label_map_for, per_structure_kind

__all__ = ["pair_ref", "csv_refs", "CSV_COLUMNS"]

CSV_COLUMNS = ("case_id", "image", "label", "vessels")
_GENERIC_IMAGE_NAMES = ("ct", "image")


def _pair_kind(image: Path, label: Path | None) -> str | None:
    """The structure layout a pair resembles, for its default label map (None: a plain pair)."""
    if label is not None and label.is_dir():
        return per_structure_kind(label, Path(os.path.abspath(image)).parent.name)
    if label is not None and image.name in CT_NAMES and label.name in MULTILABEL_NAMES:
        return "totalsegmentator_ml"
    return None


def pair_ref(image: Path, label: Path | None, label_map: LabelMap | None, *, case_id: str | None = None,
             vessels: Path | None = None, where: str = "--image") -> CaseRef:
    """One :class:`CaseRef` for an image and its label file or per-structure folder.

    Raises:
        CaseFileError: the image or the label does not exist.
    """
    for name, path in (("image", image), ("label", label), ("vessels", vessels)):
        if path is not None and not path.exists():
            raise CaseFileError(f"{where}: {name} not found: {path}.", case=case_id, fix="check the path.")
    if case_id is None:
        stem = case_id_from_path(image)
        generic = stem.lower() in _GENERIC_IMAGE_NAMES
        case_id = case_id_from_path(Path(os.path.abspath(image)).parent) if generic else stem
    kind = _pair_kind(image, label)
    lm = label_map_for(kind, label_map) if kind is not None else label_map
    if label is not None and label.is_dir():
        structure_files(label, lm, case_id)  # type: ignore[arg-type]
        return CaseRef(case_id, image, None, lm, vessels=vessels, structures=label)
    if lm is not None and label is not None:
        lm.check_values(f"{label.name}", case=case_id)
    return CaseRef(case_id, image, label, lm, vessels=vessels)


def csv_refs(path: Path, label_map: LabelMap | None) -> list[CaseRef]:
    """One :class:`CaseRef` per row of a ``case_id,image,label[,vessels]`` CSV file.

    Raises:
        DatasetLayoutError: the header lacks a column, or a row lacks its case id or image.
        CaseFileError: a file a row names does not exist (naming the row).
    """
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = [c.strip() for c in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetLayoutError(f"cannot read {path}: {exc}.") from exc
    missing = [c for c in CSV_COLUMNS[:3] if c not in header]
    if missing:
        raise DatasetLayoutError(
            f"{path} has columns {header}; it needs {list(CSV_COLUMNS[:3])} (and optionally 'vessels').",
            fix="write the header line 'case_id,image,label' (paths relative to the CSV file).",
        )
    base = path.resolve().parent
    refs = []
    for number, row in enumerate(rows, start=2):
        cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not cells.get("case_id") or not cells.get("image"):
            raise DatasetLayoutError(f"{path} line {number} has no case_id or no image.", fix="fill both cells.")
        label, vessels = ((base / cells[c]) if cells.get(c) else None for c in ("label", "vessels"))
        refs.append(pair_ref(base / cells["image"], label, label_map, case_id=cells["case_id"],
                             vessels=vessels, where=f"{path.name} line {number}"))
    return refs
