"""Per-case lesion measurement: components, the minimum volume, tissue masks."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.realism import FEATURES, FeatureSettings, case_features
from synthtumor.errors import ConfigError
from tests.conftest import blob_case


def lesion_case():
    case = blob_case(spacing=(2.0, 2.0, 2.0), noise=4.0)
    x, y, z = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * 2.0 for n in case.shape], indexing="ij")
    big = (x - 20) ** 2 + y**2 + z**2 <= 8.0**2
    small = (x + 25) ** 2 + (y - 15) ** 2 + (z - 15) ** 2 <= 4.0**2
    speck = np.zeros(case.shape, bool)
    speck[tuple(np.array(case.shape) // 2 + np.array([0, -12, 0]))] = True  # 0.008 mL: skipped
    tumor = (big | small | speck) & case.organ & ~case.vessels
    image = case.image.copy()
    image[big] -= 50.0
    image[small] += 30.0
    return case.replace(image=image, tumor=tumor)


def test_each_component_is_measured_and_specks_are_skipped():
    result = case_features(lesion_case())
    assert result.skipped == 1 and len(result.rows) == 2
    by_volume = sorted(result.rows, key=lambda r: -r["volume_ml"])
    assert list(by_volume[0])[:3] == ["case_id", "lesion", "voxels"] and set(FEATURES) <= set(by_volume[0])
    assert by_volume[0]["contrast_hu"] == pytest.approx(-50.0, abs=3.0)
    assert by_volume[1]["contrast_hu"] == pytest.approx(30.0, abs=3.0)
    assert by_volume[0]["equivalent_radius_mm"] == pytest.approx(8.0, rel=0.08)
    none = case_features(lesion_case(), FeatureSettings(min_volume_ml=100.0))
    assert none.rows == [] and none.skipped == 3


def test_case_without_tumour_has_no_lesion_and_settings_are_checked():
    assert case_features(blob_case(spacing=(3.0, 3.0, 3.0))).rows == []
    with pytest.raises(ConfigError, match="shell_mm"):
        FeatureSettings(shell_mm=0.0)
