"""Fitting calcifications: share, count, size and amplitude from measured specks; base kept when data cannot tell."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.generators.config import AppearanceLaw, GeneratorConfig, load_preset_dict
from synthtumor.generators.heuristic import HeuristicGenerator
from synthtumor.realism.fit_calcification import fit_calcification, sampled_peak_fraction
from synthtumor.realism.lesion_measures import measure_case
from tests.conftest import blob_case

SPACING = (1.5, 1.5, 2.0)


def _row(specks, peak=300.0, sigma=1.0):
    return {"calcified_specks": float(specks), "calcification_peak_hu": peak if specks else float("nan"),
            "calcification_sigma_mm": sigma if specks else float("nan")}


def test_the_sampled_peak_fraction_matches_a_monte_carlo_draw():
    rng = np.random.default_rng(0)
    for sigma, spacing in ((0.8, SPACING), (1.5, (1.0, 1.0, 1.0)), (0.5, (0.7, 0.7, 5.0))):
        u = (rng.random((200_000, 3)) - 0.5) * np.asarray(spacing)
        expected = float(np.exp(-(u * u).sum(axis=1) / (2 * sigma**2)).mean())
        assert sampled_peak_fraction(sigma, spacing) == pytest.approx(expected, rel=0.01)
    assert sampled_peak_fraction(50.0, SPACING) == pytest.approx(1.0, abs=1e-3)


def test_share_count_size_and_amplitude_are_fitted():
    rows = [_row(0)] * 6 + [_row(1, 300.0, 1.0), _row(3, 400.0, 1.2), _row(2, 200.0, 0.9), _row(1, 350.0, 1.1)]
    fitted = fit_calcification(rows, [SPACING] * len(rows), "portal")
    assert fitted.prob == pytest.approx(0.4) and fitted.count == (1, 3)
    assert fitted.sigma_mm == pytest.approx(1.05)
    # each amplitude is its peak over the sampled fraction at its own size: brighter than the peaks
    assert fitted.hu.kind == "lognormal" and fitted.hu.fitted["median"] > 325.0
    keys = fitted.appearance_keys()
    law = AppearanceLaw.from_dict({"calcification_prob": 0.0, **keys}, "portal")  # what generate reads
    assert law.calcification_prob == pytest.approx(0.4) and law.calcification_count == (1.0, 3.0)


def test_the_base_is_kept_where_the_data_cannot_tell():
    few = fit_calcification([_row(1)] * 4, [SPACING] * 4, "portal")
    assert few.appearance_keys() == {} and "only 4 lesion(s)" in few.record["source"]
    rare = fit_calcification([_row(0)] * 8 + [_row(2)] * 2, [SPACING] * 10, "native")
    assert rare.appearance_keys() == {"calcification_prob": 0.2} and "base preset's" in rare.record["laws"]
    arterial = fit_calcification([_row(1)] * 10, [SPACING] * 10, "arterial")
    assert arterial.appearance_keys() == {} and "arterial" in arterial.record["source"]


def test_calcified_lesions_drawn_by_the_generator_are_recovered():
    """Render specks of a known law, measure them as annotated lesions, fit: the law comes back."""
    raw = load_preset_dict("liver_metastasis")
    raw["counts"] = {"tiny": [0, 0], "small": [0, 0], "medium": [2, 2], "large": [0, 0]}
    raw["appearance"]["portal"].update(calcification_prob=1.0, calcification_hu=[380.0, 420.0],
                                       calcification_count=[1.0, 1.0], calcification_sigma_mm=1.2,
                                       calcification_depth=[0.0, 0.3])
    gen = HeuristicGenerator(GeneratorConfig.from_dict(raw))
    rows, spacings = [], []
    for seed in range(3):
        case = blob_case(spacing=SPACING, seed=seed)
        prep = gen.prepare(case)
        out = gen.render_result(prep, gen.sample(prep, np.random.default_rng(seed))).case
        measured = measure_case(out)
        rows += measured.rows
        spacings += [measured.spacing] * len(measured.rows)
    fitted = fit_calcification(rows, spacings, "portal")
    assert len(rows) >= 5 and fitted.prob >= 0.8
    assert fitted.sigma_mm == pytest.approx(1.2, abs=0.4)
    assert fitted.hu.fitted["median"] == pytest.approx(400.0, rel=0.3)


def test_one_fragmented_lesion_does_not_set_the_count():
    rows = [_row(1)] * 9 + [_row(15)] + [_row(0)] * 5
    fitted = fit_calcification(rows, [SPACING] * len(rows), "portal")
    assert fitted.count[0] == 1 and fitted.count[1] <= 3


def test_the_calcification_knob_scales_the_share_and_calibration_steps_it():
    from synthtumor.realism.calibrate import _step
    from synthtumor.realism.preset_builder import FittedLaws, Knobs, build_preset
    from tests.realism.test_preset_builder import _laws

    rows = [_row(0)] * 6 + [_row(1, 300.0, 1.0), _row(3, 400.0, 1.2), _row(2, 200.0, 0.9), _row(1, 350.0, 1.1)]
    laws: FittedLaws = _laws()
    laws = FittedLaws(**{**laws.__dict__, "calcification": fit_calcification(rows, [SPACING] * 10, "portal")})
    base_raw = load_preset_dict("liver_metastasis")
    base = GeneratorConfig.from_dict(base_raw)
    for knob, share in ((1.0, 0.4), (2.0, 0.8), (5.0, 1.0)):
        preset = build_preset(base_raw, base, laws, Knobs(calcification=knob), "portal", "t")
        assert preset["appearance"]["portal"]["calcification_prob"] == pytest.approx(share)
    empty = {k: np.asarray([]) for k in ("viable_contrast_hu", "viable_std_hu", "plain_edge_width_mm",
                                         "edge_width_mm", "irregularity", "sphericity", "elongation")}
    up = _step(Knobs(), empty, empty, 10.0, 5.0, [], calcified=(0.4, 0.2))
    unseen = _step(Knobs(), empty, empty, 10.0, 5.0, [], calcified=(0.4, 0.0))
    held = _step(Knobs(), empty, empty, 10.0, 5.0, [], calcified=(float("nan"), 0.2))
    assert 1.0 < up.calcification < 2.0 and unseen.calcification == 2.0 and held.calcification == 1.0


def test_a_calcified_mass_counts_in_the_share_only():
    dense = {"calcified_specks": 1.0, "calcified_fraction": 0.9, "calcification_peak_hu": float("nan"),
             "calcification_sigma_mm": float("nan")}
    rows = [_row(0)] * 5 + [dense] * 3 + [_row(1, 300.0, 1.0)] * 2
    fitted = fit_calcification(rows, [SPACING] * len(rows), "portal")
    assert fitted.prob == pytest.approx(0.5) and fitted.hu is None and "holding specks" in fitted.record["laws"]
