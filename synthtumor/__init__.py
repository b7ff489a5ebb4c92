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

#: Names served from :mod:`synthtumor.io` on first use: the file readers import nibabel (and
#: with it pydicom), ~0.6 s that a generator working on arrays it was handed never needs.
_FROM_IO = ("LabelMap", "load_case", "load_dataset", "save_case")


def __getattr__(name: str):
    if name in _FROM_IO:
        from synthtumor import io

        return getattr(io, name)
    raise AttributeError(f"module 'synthtumor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
