"""Reading and writing scans: NIfTI, DICOM series, label maps and dataset layouts."""

from __future__ import annotations

from synthtumor.io.case_io import check_ct_intensities, load_case, save_case, write_cases_index
from synthtumor.io.labelmap import LabelMap, LabelMasks, resolve_label_map
from synthtumor.io.layouts import (
    LAYOUT_DESCRIPTIONS,
    LAYOUTS,
    CaseRef,
    Dataset,
    detect_layout,
    load_dataset,
    load_pair,
    open_input,
)
from synthtumor.io.monai_items import monai_items

__all__ = [
    "LAYOUT_DESCRIPTIONS",
    "LAYOUTS",
    "CaseRef",
    "Dataset",
    "LabelMap",
    "LabelMasks",
    "check_ct_intensities",
    "detect_layout",
    "load_case",
    "load_dataset",
    "load_pair",
    "monai_items",
    "open_input",
    "resolve_label_map",
    "save_case",
    "write_cases_index",
]
