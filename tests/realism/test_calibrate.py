"""Calibration: draws into the annotated scans as into healthy ones, and how each knob steps."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.generators.config import load_preset_dict
from synthtumor.realism.calibrate import calibration_case, simulate
from synthtumor.realism.features import FeatureSettings
from tests.realism._volumes import big_tumour_case


def test_calibration_places_large_lesions_where_the_annotated_tumour_was():
    """Lesions of 12 mm radius have no room beside a 30 mm tumour in a 45 mm liver; with the
    tumour refilled they do, and only the drawn lesion is measured."""
    preset = load_preset_dict("liver_metastasis")
    for key in ("counts", "size_jitter"):
        preset.pop(key, None)
    preset["size_law"] = {"kind": "lognormal", "median": 12.0, "sigma": 0.05, "low": 11.5, "high": 12.5}
    preset["placement"] = {**preset["placement"], "on_no_room": "skip"}
    case = big_tumour_case()
    rows, ratios = simulate(preset, [calibration_case(case)], reps=3, seed=0, settings=FeatureSettings())
    assert len(ratios) == 3 and len(rows) >= 3
    assert all(row["equivalent_radius_mm"] > 8.0 for row in rows)
    assert all(row["contrast_hu"] < -10.0 for row in rows)  # no rim of the old tumour as tissue


def test_a_knob_that_reverses_its_step_closes_in():
    """A margin knob proposed 2 -> 4 -> 2 -> 4 (overshooting both ways) settles between them."""
    from synthtumor.realism.calibrate import _damped
    from synthtumor.realism.preset_builder import Knobs

    knobs, gains, last, seen = Knobs(rough=2.0), {}, {}, []
    for _ in range(6):
        proposed = Knobs(rough=4.0 if knobs.rough < 2.9 else 2.0)
        knobs = _damped(knobs, proposed, gains, last)
        seen.append(knobs.rough)
    assert seen[0] == 4.0  # the first step is taken whole
    assert 2.0 < min(seen[1:]) and max(seen[2:]) < 4.0
    assert abs(seen[-1] - seen[-2]) < 0.3 * abs(seen[1] - seen[0])
    assert knobs.contrast == 0.0 and knobs.size == 1.0  # knobs not proposed to move stay


def test_the_kept_knobs_are_the_mean_of_the_later_rounds():
    """Polyak averaging: geometric mean for the ratio knobs, arithmetic for contrast and nodule_prob."""
    from synthtumor.realism.calibrate import _averaged
    from synthtumor.realism.preset_builder import Knobs

    kept = _averaged([Knobs(texture=0.5, contrast=-10.0, nodule_prob=0.2), Knobs(texture=2.0, contrast=-20.0,
                                                                                nodule_prob=0.4)])
    assert kept.texture == pytest.approx(1.0) and kept.contrast == pytest.approx(-15.0)
    assert kept.nodule_prob == pytest.approx(0.3) and kept.size == pytest.approx(1.0)


def _row(contrast, std, edge, sphericity, viable_offset=float("nan"), viable_std=float("nan"), rim_hu=0.0,
         core_drop_hu=0.0):
    return {"equivalent_radius_mm": 10.0, "contrast_hu": contrast, "std_hu": std, "edge_width_mm": edge,
            "irregularity": 1.1, "sphericity": sphericity, "elongation": 1.3, "viable_offset_hu": viable_offset,
            "viable_std_hu": viable_std, "rim_hu": rim_hu, "core_drop_hu": core_drop_hu}


def test_contrast_and_texture_knobs_step_on_the_viable_tissue_their_laws_were_fitted_from():
    """Whole-lesion contrast and std mix in the rim and the core, which their own knobs move: the
    contrast and texture knobs follow the viable tissue (middle band), the edge knob the lesions
    without rim or core (a rim widens the measured edge), on both sides."""
    from synthtumor.realism.calibrate import _measured, _step
    from synthtumor.realism.preset_builder import Knobs

    # real: viable tissue at -50 HU, std 15; rimmed lesions whose edges read wide
    real = [_row(-35.0, 20.0, 1.5, 0.6, viable_offset=-15.0, viable_std=15.0) for _ in range(6)]
    real += [_row(-30.0, 25.0, 4.0, 0.6, viable_offset=-20.0, viable_std=15.0, rim_hu=20.0) for _ in range(6)]
    # synthetic: same whole-lesion figures, viable tissue 10 HU brighter and quieter, plain edges 2x wide
    syn = [_row(-35.0, 20.0, 3.0, 0.6, viable_offset=-5.0, viable_std=12.0) for _ in range(6)]
    syn += [_row(-30.0, 25.0, 4.0, 0.6, viable_offset=-10.0, viable_std=12.0, rim_hu=20.0) for _ in range(6)]
    k = _step(Knobs(), _measured(real), _measured(syn), noise=10.0, rough_cap=5.0, ratios=[])
    assert k.contrast == pytest.approx(0.8 * -10.0)
    assert k.texture > 1.2  # sqrt(15^2 - 10^2) / sqrt(12^2 - 10^2) = 1.69, damped
    assert k.edge == pytest.approx(0.5**0.8)  # plain edges 1.5 against 3.0
    # whole-lesion figures alone would have left contrast and texture where they were
    whole = [{**r, "viable_offset_hu": float("nan"), "viable_std_hu": float("nan")} for r in syn]
    k_whole = _step(Knobs(), _measured([{**r, "viable_offset_hu": float("nan"), "viable_std_hu": float("nan")}
                                        for r in real]), _measured(whole), noise=10.0, rough_cap=5.0, ratios=[])
    assert k_whole.contrast == 0.0 and k_whole.texture == 1.0


def test_the_multinodular_share_steps_on_the_lower_quartile_of_sphericity():
    """Median sphericity moves the margin; the least spherical quarter (multi-nodular shapes) the
    multi-nodular share: a synthetic set as round in the median but with a longer low tail gets fewer."""
    from synthtumor.realism.calibrate import _measured, _step
    from synthtumor.realism.preset_builder import Knobs

    real = [_row(-40.0, 20.0, 2.0, s) for s in np.linspace(0.55, 0.75, 21)]
    tail = np.concatenate([np.linspace(0.35, 0.65, 11), np.linspace(0.66, 0.75, 10)])
    syn = [_row(-40.0, 20.0, 2.0, s) for s in tail]
    assert np.median([r["sphericity"] for r in syn]) == pytest.approx(0.65, abs=0.01)
    k = _step(Knobs(nodule_prob=0.5), _measured(real), _measured(syn), noise=10.0, rough_cap=5.0, ratios=[])
    assert k.nodule_prob < 0.5 - 2.5 * 0.05


def test_the_necrosis_knob_follows_the_core_hu_of_the_lesions_called_necrotic_on_both_sides():
    """Cores drawn at the fitted HU read brighter once blurred with the viable tissue around them,
    and too bright a core is not called necrotic at all: the knob darkens them until the called
    cores' median meets the real one."""
    from synthtumor.realism.calibrate import _core_median, _measured, _step
    from synthtumor.realism.preset_builder import Knobs

    real = [{**_row(-40.0, 25.0, 2.0, 0.6, core_drop_hu=30.0), "core_hu": 25.0} for _ in range(5)]
    syn = [{**_row(-40.0, 25.0, 2.0, 0.6, core_drop_hu=12.0), "core_hu": 37.0} for _ in range(5)]
    syn += [{**_row(-40.0, 25.0, 2.0, 0.6, core_drop_hu=5.0), "core_hu": 60.0}]  # not called necrotic
    cores = (_core_median(real), _core_median(syn))
    assert cores == (25.0, 37.0)
    k = _step(Knobs(), _measured(real), _measured(syn), noise=10.0, rough_cap=5.0, ratios=[], cores=cores)
    assert k.necrosis == pytest.approx(0.8 * -12.0)



def test_knobs_whose_law_the_base_gives_stay_put(monkeypatch):
    """With too few rims or cores to fit their laws, the preset keeps the base's: their knobs
    would move nothing, so calibration leaves them at their start instead of stepping on."""
    from synthtumor.realism import calibrate as calibration
    from synthtumor.realism.preset_builder import Knobs

    real = [{**_row(-40.0, 20.0, 2.0, 0.6, rim_hu=30.0, core_drop_hu=30.0), "core_hu": 20.0,
             "rim_width_mm": 3.0} for _ in range(6)]
    syn = [{**_row(-40.0, 20.0, 2.0, 0.6, rim_hu=15.0, core_drop_hu=15.0), "core_hu": 40.0,
            "rim_width_mm": 1.5, "noise_sigma_hu": 10.0} for _ in range(6)]
    monkeypatch.setattr(calibration, "simulate", lambda *args, **kwargs: (syn, [1.0] * 6))

    class _Case:
        noise_sigma_hu = 10.0

    def run(fixed):
        knobs, _ = calibration.calibrate(real, [_Case()], lambda k: {}, Knobs(), 5.0, rounds=4, fixed=fixed)
        return knobs

    moved, kept = run(()), run(("rim", "rim_width", "necrosis"))
    assert moved.rim > 1.2 and moved.rim_width > 1.2 and moved.necrosis < -5.0
    assert (kept.rim, kept.rim_width, kept.necrosis) == (1.0, 1.0, 0.0)
    assert kept.contrast == moved.contrast  # the other knobs step as before
