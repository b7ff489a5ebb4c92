"""Calibration draws into the annotated scans as into healthy ones: their tumours are refilled."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.generators.config import load_preset_dict
from synthtumor.realism.calibrate import calibration_case, refill_tumours, simulate
from synthtumor.realism.features import FeatureSettings
from tests.conftest import blob_case


def _big_tumour_case():
    """A blob liver (radii 55 x 45 x 45 mm) whose centre holds a 30 mm hypo-attenuating tumour."""
    case = blob_case(seed=3)
    x, y, z = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(case.shape, case.spacing)],
                          indexing="ij")
    tumour = (x**2 + y**2 + z**2 <= 30.0**2) & case.organ & ~case.vessels
    image = case.image.copy()
    image[tumour] -= 50.0
    return case.replace(image=image, tumor=tumour, case_id="big")


def test_calibration_scan_holds_no_annotated_tumour_as_lesion_or_obstacle():
    case = _big_tumour_case()
    cal = calibration_case(case)
    prepared = cal.prepared
    assert prepared.case.tumor is None
    assert prepared.case.avoid is None  # the old code kept the tumour as `avoid`
    assert prepared.occupied is None or not prepared.occupied.any()
    assert cal.refilled_voxels >= int(case.tumor.sum())
    # the tumour's voxels (the crop keeps the organ's box + 15 mm) are parenchyma again, and organ
    idx = np.argwhere(case.organ)
    lo = np.maximum(idx.min(axis=0) - 15, 0)
    box = tuple(slice(int(a), int(a) + n) for a, n in zip(lo, prepared.case.shape))
    tumour = case.tumor[box]
    assert prepared.case.organ[tumour].all()
    parenchyma = case.image[case.organ & ~case.tumor & ~case.vessels]
    refilled = prepared.case.image[tumour & ~prepared.case.vessels]
    assert abs(float(np.median(refilled)) - float(np.median(parenchyma))) < 3.0
    assert abs(float(refilled.std()) - float(parenchyma.std())) < 2.0


def test_refill_copies_parenchyma_and_vessels_together_and_leaves_inputs():
    case = blob_case(seed=4, tumor=True)
    image0 = case.image.copy()
    image, vessels, region = refill_tumours(case.image, case.organ, case.tumor, case.vessels, None, case.spacing)
    assert np.array_equal(case.image, image0)  # inputs untouched
    assert region[case.tumor].all() and not region[~case.organ].any()
    assert np.array_equal(image[~region], case.image[~region])
    assert np.array_equal(vessels[~region], case.vessels[~region])
    assert abs(float(np.median(image[region & ~vessels])) - 100.0) < 4.0  # parenchyma at 100 HU


def test_calibration_places_large_lesions_where_the_annotated_tumour_was():
    """Lesions of 12 mm radius have no room beside a 30 mm tumour in a 45 mm liver; with the
    tumour refilled they do, and only the drawn lesion is measured."""
    preset = load_preset_dict("liver_metastasis")
    for key in ("counts", "size_jitter"):
        preset.pop(key, None)
    preset["size_law"] = {"kind": "lognormal", "median": 12.0, "sigma": 0.05, "low": 11.5, "high": 12.5}
    preset["placement"] = {**preset["placement"], "on_no_room": "skip"}
    case = _big_tumour_case()
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
