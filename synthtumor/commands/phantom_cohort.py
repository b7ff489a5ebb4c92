"""``synthtumor phantom``: write a cohort of procedural abdominal CT phantoms as a case folder.

The command layer over :mod:`synthtumor.phantom.cohort`, which holds the logic.
"""

from __future__ import annotations

from synthtumor.phantom.cohort import STAND_IN_NOTE, phantom_case_id, write_phantom_cohort

__all__ = ["write_phantom_cohort", "phantom_case_id", "STAND_IN_NOTE"]
