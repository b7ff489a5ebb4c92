"""One JSON-able summary record of a case: geometry, volumes and the parenchyma's median HU.

Used by ``synthtumor info`` and by the phantom cohort writer (:mod:`synthtumor.phantom.cohort`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthtumor.case import Case

__all__ = ["summarise_case"]


def summarise_case(case: Case) -> dict[str, Any]:
    """One JSON-able record: geometry, volumes (mL) and the parenchyma's median HU.

    ``hu_organ_median`` is the median over organ voxels that are neither vessel nor tumour
    (None without an organ).
    """
    parenchyma = None
    if case.organ is not None:
        parenchyma = case.organ.copy()
        for other in (case.vessels, case.tumor):
            if other is not None:
                parenchyma &= ~other
    median = float(np.median(case.image[parenchyma])) if parenchyma is not None and parenchyma.any() else None
    vessels_in_organ = None
    if case.vessels is not None and case.organ is not None:
        vessels_in_organ = case.vessels & case.organ
    return {
        "case_id": case.case_id,
        "shape": list(case.shape),
        "spacing": [round(s, 4) for s in case.spacing],
        "orientation": case.source.orientation if case.source is not None else "RAS",
        "phase": case.phase.value,
        "organ_ml": round(case.volume_ml(case.organ), 2) if case.organ is not None else None,
        "vessel_ml": round(case.volume_ml(case.vessels), 2) if case.vessels is not None else None,
        "vessel_in_organ_ml": round(case.volume_ml(vessels_in_organ), 2) if vessels_in_organ is not None else None,
        "tumor_ml": round(case.volume_ml(case.tumor), 2) if case.tumor is not None else 0.0,
        "hu_organ_median": round(median, 1) if median is not None else None,
    }
