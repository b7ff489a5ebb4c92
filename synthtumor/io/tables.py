"""CSV tables written atomically (floats to 10 significant digits, NaN as ``nan``)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.io.case_io import write_text_atomic

__all__ = ["write_csv_atomic", "csv_cell"]


def csv_cell(value: Any) -> str:
    """One CSV cell: booleans as 0/1, integers as they are, floats to 10 significant digits."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{float(value):.10g}"
    return str(value)


def write_csv_atomic(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: Path,
                     missing: Any = math.nan) -> None:
    """Write ``rows`` as CSV with ``columns`` through a temporary file (``missing`` fills gaps)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c, missing)) for c in columns])
    write_text_atomic(buffer.getvalue(), Path(path))
