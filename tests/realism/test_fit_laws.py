"""Fitting scalar laws, and the laws themselves."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.errors import ConfigError
from synthtumor.generators.laws import draw_value, law_median, parse_law
from synthtumor.realism.fit_laws import (fit_counts, fit_positive, fit_signed, fit_size_exponent, power_law,
                                         scale_law, shift_law)


def test_positive_law_lognormal_then_empirical():
    rng = np.random.default_rng(0)
    few = rng.lognormal(np.log(8.0), 0.5, size=20)
    law = fit_positive(few, "radius")
    assert law.kind == "lognormal" and law.param("median") == pytest.approx(np.exp(np.log(few).mean()), rel=1e-4)
    many = rng.lognormal(np.log(8.0), 0.5, size=300)
    law = fit_positive(many, "radius")
    assert law.kind == "empirical" and law.log and len(law.values) == 200
    draws = np.array([law.draw(rng) for _ in range(4000)])
    assert np.median(draws) == pytest.approx(np.median(many), rel=0.08)
    assert draws.min() >= law.low and draws.max() <= law.high


def test_signed_counts_and_transforms():
    law = fit_signed([-40.0, -35.0, -30.0, -45.0, -50.0], "contrast")
    assert law.kind == "normal" and law.param("mean") == pytest.approx(-40.0)
    assert shift_law(law, 5.0).param("mean") == pytest.approx(-35.0)
    counts = fit_counts([1, 3, 2, 2], "per case")
    rng = np.random.default_rng(1)
    assert {counts.draw(rng) for _ in range(200)} == {1.0, 2.0, 3.0}
    pos = fit_positive([2.0, 3.0, 4.0], "x")
    assert scale_law(pos, 2.0).param("median") == pytest.approx(2 * pos.param("median"), rel=1e-4)
    assert power_law(pos, 0.5).param("median") == pytest.approx(pos.param("median") ** 0.5, rel=1e-4)


def test_size_exponent_recovers_a_power_law():
    r = np.linspace(3, 30, 40)
    slope, ref = fit_size_exponent(r, 2.0 * r**0.5)
    assert slope == pytest.approx(0.5, abs=1e-3) and ref == pytest.approx(np.median(r), rel=1e-3)
    assert fit_size_exponent(r[:5], r[:5])[0] == 0.0  # too few


def test_parse_law_roundtrip_and_errors():
    law = parse_law({"kind": "lognormal", "median": 5, "sigma": 0.3, "low": 1, "high": 20}, "x", 0.5, 150)
    again = parse_law(law.to_dict(), "x", 0.5, 150)
    assert again == law and law_median(law) == 5
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [law.draw(a) for _ in range(5)] == [draw_value(b, law) for _ in range(5)]
    assert draw_value(np.random.default_rng(0), (2.0, 2.0)) == 2.0
    with pytest.raises(ConfigError):
        parse_law({"kind": "lognormal", "median": -1, "sigma": 0.3}, "x")
    with pytest.raises(ConfigError):
        parse_law({"kind": "empirical", "values": []}, "x")
    with pytest.raises(ConfigError):
        parse_law({"kind": "normal", "mean": 0, "sd": 1, "low": 0.1}, "x", 1.0, 2.0)
