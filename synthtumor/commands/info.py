"""``synthtumor info``: what a case, a DICOM folder or a whole dataset holds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synthtumor.case import Case
from synthtumor.case_summary import summarise_case
from synthtumor.io.case_io import CASE_FILES, is_dicom_folder, load_case
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.layouts import load_dataset
from synthtumor.io.nifti import is_nifti

__all__ = ["iter_cases", "summarise_case", "format_table", "SUMMARY_COLUMNS"]

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

