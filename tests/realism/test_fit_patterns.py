"""Fitting internal patterns: size-aware necrosis by maximum likelihood, rim share, base kept when data are few."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.generators.config import AppearanceLaw
from synthtumor.realism.fit_patterns import MIN_MEASURED, fit_necrosis_by_size, fit_patterns


def _row(radius, rim=0.0, drop=0.0, core=30.0, frac=0.5):
    return {"equivalent_radius_mm": radius, "rim_hu": rim, "core_drop_hu": drop, "core_hu": core,
            "core_radius_fraction": frac}


def test_necrosis_law_recovers_a_size_threshold():
    rng = np.random.default_rng(0)
    radii = rng.uniform(5, 30, 400)
    truth = 0.8 / (1 + (15.0 / radii) ** 6)
    necrotic = rng.random(400) < truth
    size, steepness, top = fit_necrosis_by_size(radii, necrotic)
    assert size == pytest.approx(15.0, rel=0.2) and top == pytest.approx(0.8, abs=0.15) and steepness >= 3


def test_necrosis_law_is_deterministic():
    radii, necrotic = [5, 8, 12, 15, 20, 25, 30], [0, 0, 0, 1, 1, 0, 1]
    assert fit_necrosis_by_size(radii, necrotic) == fit_necrosis_by_size(radii, necrotic)


def test_patterns_split_rims_and_size_aware_necrosis():
    rows = ([_row(r, rim=25.0) for r in (6, 8, 10, 12)] + [_row(r) for r in (7, 9, 11, 13)]
            + [_row(r, rim=20.0, drop=40.0, core=25.0) for r in (18, 20, 22, 24)])
    fitted = fit_patterns(rows, {"homogeneous": 0.4, "necrotic_core": 0.35, "enhancing_rim": 0.25})
    assert fitted.patterns["enhancing_rim"] == pytest.approx(0.5)
    assert fitted.patterns["homogeneous"] == pytest.approx(0.5)
    assert fitted.necrosis_by_size is not None
    keys = fitted.appearance_keys()
    assert keys["rim_profile"] == "band" and set(keys["necrosis_by_size"]) == {"radius_mm", "steepness", "max_prob"}
    law = AppearanceLaw.from_dict(keys, "portal")  # what generate reads
    small, large = law.pattern_weights(6.0), law.pattern_weights(24.0)
    assert small["necrotic_core"] < 0.2 < 0.8 < large["necrotic_core"]
    assert sum(small.values()) == pytest.approx(1.0) and sum(large.values()) == pytest.approx(1.0)


def test_a_base_with_a_capsule_gets_the_rim_share_as_capsule():
    rows = [_row(r, rim=25.0) for r in (6, 8, 10)] + [_row(r) for r in (7, 9, 11)]
    fitted = fit_patterns(rows, {"homogeneous": 0.5, "capsule": 0.5})
    assert set(fitted.patterns) == {"homogeneous", "capsule", "necrotic_core"}
    assert fitted.necrosis_by_size is None and fitted.patterns["necrotic_core"] == 0.0


def test_too_few_measured_interiors_keep_the_base():
    rows = [_row(r, rim=25.0) for r in range(6, 6 + MIN_MEASURED - 1)]
    fitted = fit_patterns(rows, {"homogeneous": 1.0})
    assert fitted.patterns is None and fitted.appearance_keys() == {} and "base preset" in fitted.record["source"]
