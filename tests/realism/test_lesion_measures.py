"""Per-lesion measures for fitting: principal radii and distances."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.realism.lesion_measures import EXTRA_KEYS, measure_case, principal_radii_mm
from tests.commands.test_realism import real_case


def test_principal_radii_of_a_voxelised_ellipsoid():
    x, y, z = np.meshgrid(*[np.arange(-30, 31) * 0.5] * 3, indexing="ij")
    inside = (x / 12) ** 2 + (y / 8) ** 2 + (z / 5) ** 2 <= 1
    radii = principal_radii_mm(np.argwhere(inside) * 0.5)
    assert radii == pytest.approx((12, 8, 5), rel=0.05)


def test_measure_case_adds_distances():
    measured = measure_case(real_case(0))
    assert len(measured.rows) == 2 and measured.noise_sigma_hu > 0
    for row in measured.rows:
        assert set(EXTRA_KEYS) <= set(row)
        assert row["radius_1_mm"] >= row["radius_2_mm"] >= row["radius_3_mm"] > 0
        assert 0 <= row["surface_distance_mm"] <= 20 and row["subcapsular"] in (0.0, 1.0)
        assert row["vessel_distance_mm"] >= 0
