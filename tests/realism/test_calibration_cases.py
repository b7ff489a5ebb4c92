"""The scans calibration draws into: cut to the organ, their annotated tumours refilled."""

from __future__ import annotations

import numpy as np

from synthtumor.realism.calibration_cases import calibration_case, refill_tumours
from tests.conftest import blob_case
from tests.realism._volumes import big_tumour_case


def test_calibration_scan_holds_no_annotated_tumour_as_lesion_or_obstacle():
    case = big_tumour_case()
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
