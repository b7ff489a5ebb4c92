"""Reading and writing scans: NIfTI, DICOM series, label maps and dataset layouts."""

from __future__ import annotations

from synthtumor.io.case_io import check_ct_intensities, load_case, save_case, write_cases_index
from synthtumor.io.labelmap import LabelMap, LabelMasks, resolve_label_map
from synthtumor.io.layouts import LAYOUTS, CaseRef, Dataset, detect_layout, load_dataset

__all__ = [
    "LAYOUTS",
    "CaseRef",
    "Dataset",
    "LabelMap",
    "LabelMasks",
    "check_ct_intensities",
    "detect_layout",
    "load_case",
    "load_dataset",
    "resolve_label_map",
    "save_case",
    "write_cases_index",
]
