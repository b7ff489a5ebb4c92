"""``synthtumor info``: what a case, a DICOM folder, a whole dataset or a CSV list holds.

For a dataset it first says which layout it recognised (:data:`synthtumor.io.layouts.LAYOUT_DESCRIPTIONS`),
how many cases it found and which label map reads them, then one row per case.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthtumor.case import Case
from synthtumor.case_summary import summarise_case
from synthtumor.io.case_io import CASE_FILES, is_dicom_folder, load_case
from synthtumor.io.case_ref import Dataset
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.layouts import LAYOUT_DESCRIPTIONS, load_dataset, open_input
from synthtumor.io.nifti import is_nifti
from synthtumor.io.structure_layouts import describe_structures

__all__ = ["iter_cases", "open_info_input", "describe_dataset", "summarise_case", "format_table", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = (
    "case_id", "shape", "spacing", "orientation", "phase",
    "organ_ml", "vessel_ml", "tumor_ml", "hu_organ_median",
)


def iter_cases(
    path: str | os.PathLike,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    phase: str | None = None,
    expect_ct: bool = True,
) -> Iterator[Case]:
    """Yield the cases at ``path``: a NIfTI file, a DICOM folder, one case folder, or a dataset."""
    path = Path(path)
    lm = resolve_label_map(label_map)
    kwargs: dict[str, Any] = {"expect_ct": expect_ct}
    if phase is not None:
        kwargs["phase"] = phase
    if path.is_file() and is_nifti(path):
        yield load_case(path, None, lm, **kwargs)
    elif is_dicom_folder(path):
        yield load_case(path, None, lm, **kwargs)
    elif (path / CASE_FILES["image"]).is_file():
        # one case folder: read it as a one-case dataset of its parent
        dataset = load_dataset(path.parent, lm, layout="cases", phase=phase, expect_ct=expect_ct)
        yield dataset[dataset.case_ids.index(_case_id_of_folder(path, dataset))]
    else:
        yield from load_dataset(path, lm, phase=phase, expect_ct=expect_ct)


def describe_dataset(dataset: Dataset) -> dict[str, Any]:
    """``{"layout", "text"}``: the layout ``info`` recognised, in words, with the case count, the
    label map's roles and, for per-structure layouts, what the first case's mask folder holds."""
    ref = dataset.refs[0]
    lm = ref.label_map
    roles = ""
    if lm is not None:
        roles = f"; label map {lm.name}: " + "; ".join(
            f"{role} {', '.join(_role_entries(lm, role))}" for role in ("organ", "vessels", "tumor", "avoid")
            if getattr(lm, role))
    masks = ""
    if ref.structures is not None:
        masks = f"; {ref.case_id}/{ref.structures.name}/ holds {describe_structures(ref.structures)}"
    text = (f"{dataset.root}: {dataset.layout} layout, {LAYOUT_DESCRIPTIONS[dataset.layout]}; "
            f"{len(dataset)} case(s){roles}{masks}")
    return {"layout": dataset.layout, "text": text}


def _role_entries(lm: LabelMap, role: str) -> list[str]:
    """A role's structures by name, with the value where the map has one (``liver=5``)."""
    names = {value: name for name, value in lm.classes}
    return [f"{names[v]}={v}" if v in names else str(v) for v in getattr(lm, role)]


def open_info_input(
    path: str | os.PathLike | None,
    image: str | os.PathLike | None = None,
    label: str | os.PathLike | None = None,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    phase: str | None = None,
    expect_ct: bool = True,
) -> tuple[dict[str, Any] | None, Iterator[Case]]:
    """What ``synthtumor info`` shows: a description of the dataset (None for a bare scan) and
    its cases, loaded one at a time.

    Raises:
        ConfigError: neither or both of ``path`` and ``image``.
        SynthTumorError: the input cannot be read (a folder that follows no layout gets the list
            of layouts looked for).
    """
    if path is not None and image is None and label is None:
        target = Path(path)
        one_scan = (target.is_file() and is_nifti(target)) or is_dicom_folder(target)
        if one_scan or (target / CASE_FILES["image"]).is_file():
            return None, iter_cases(target, label_map, phase=phase, expect_ct=expect_ct)
    dataset = open_input(path, image, label, label_map, phase=phase, expect_ct=expect_ct)
    return describe_dataset(dataset), iter(dataset)


def _case_id_of_folder(folder: Path, dataset) -> str:
    for ref in dataset.refs:
        if ref.image.parent.resolve() == folder.resolve():
            return ref.case_id
    return folder.name


def format_table(rows: list[dict[str, Any]], columns: tuple[str, ...] = SUMMARY_COLUMNS) -> str:
    """A plain-text table of summary records."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        if isinstance(value, float):
            return f"{value:.1f}"
        return str(value)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)

