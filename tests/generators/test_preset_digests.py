"""Same seed, same lesions, across refactors: a digest per shipped preset, pinned.

The digests were computed with the code before the one-loop / one-home refactor (commit
3fa992e) and again after it; they are equal. A change of any drawn value or rendered voxel in a
shipped preset changes its digest: if that is meant (a new law), update the digest in the same
commit and say so in its message. Intensities are rounded to 0.01 HU so that the last float bit
of a platform's maths does not count.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.config import list_presets

from tests.conftest import blob_case

PINNED = {
    "kidney_tumor": "60956676c04e5426",
    "liver_cyst": "f7283e363c9452ae",
    "liver_hcc": "8cb3ee52a79cdaa3",
    "liver_hemangioma": "2cab53b486bec177",
    "liver_metastasis": "2db5337bea9fc5fd",
    "mixed": "b5b71a9580805b50",
    "pancreas_tumor": "9e5d5a08380ab232",
}


@pytest.fixture(scope="module")
def case():
    return blob_case(spacing=(1.5, 1.5, 2.0), seed=3)


def _digest(case, preset: str) -> str:
    result = HeuristicGenerator.from_preset(preset)(case, np.random.default_rng(7))
    h = hashlib.sha256()
    h.update(np.round(result.image.astype(np.float64) * 100).astype(np.int64).tobytes())
    h.update(np.packbits(result.tumor).tobytes())
    return h.hexdigest()[:16]


def test_every_shipped_preset_is_pinned():
    assert set(list_presets()) == set(PINNED)


@pytest.mark.parametrize("preset", sorted(PINNED))
def test_a_preset_draws_the_same_bytes_as_before(case, preset):
    assert _digest(case, preset) == PINNED[preset]
