"""synthtumor: realistic synthetic tumours in healthy CT scans.

The Python API scripts and notebooks import::

    from synthtumor import Case, load_case, save_case, load_dataset
"""

from __future__ import annotations

from synthtumor.case import Case, Phase, SourceGeometry
from synthtumor.errors import (
    CaseFileError,
    ConfigError,
    DatasetLayoutError,
    InvalidCaseError,
    LabelMapError,
    SynthTumorError,
)
from synthtumor.io import LabelMap, load_case, load_dataset, save_case

__version__ = "0.1.0"

__all__ = [
    "Case",
    "CaseFileError",
    "ConfigError",
    "DatasetLayoutError",
    "InvalidCaseError",
    "LabelMap",
    "LabelMapError",
    "Phase",
    "SourceGeometry",
    "SynthTumorError",
    "__version__",
    "load_case",
    "load_dataset",
    "save_case",
]
