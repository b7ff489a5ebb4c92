"""``synthtumor evaluate``: segmentation metrics and lesion detection by size, prediction vs reference.

The command layer over :mod:`synthtumor.metrics.dataset_eval`, which holds the logic and documents
the accepted folder layouts, the pairing rules and the output files (``metrics.csv``,
``lesions.csv``, ``summary.md``).
"""

from __future__ import annotations

from synthtumor.metrics.dataset_eval import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    LESION_COLUMNS,
    LabelSource,
    find_label_sources,
    run_evaluate,
)

__all__ = ["LabelSource", "find_label_sources", "run_evaluate", "LESION_COLUMNS", "BOOTSTRAP_RESAMPLES",
           "BOOTSTRAP_SEED"]
