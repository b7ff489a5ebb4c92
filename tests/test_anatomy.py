"""prepare_case: parenchyma statistics, HU vessels, conservative placement distances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor import InvalidCaseError, load_case
from synthtumor.anatomy import prepare_case

from tests.conftest import blob_case


def test_parenchyma_statistics_ignore_vessels():
    case = blob_case(noise=12.0)
    prep = prepare_case(case)
    assert prep.parenchyma_median_hu == pytest.approx(100.0, abs=2.0)
    assert 9.0 < prep.noise_sigma_hu < 15.0
    assert prep.vessel_source == "labels"


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0)])
def test_block_distances_are_lower_bounds_of_true_distances(spacing):
    case = blob_case(spacing=spacing, tumor=True, avoid=True)
    prep = prepare_case(case)
    true_vessel = ndi.distance_transform_edt(~case.vessels, sampling=case.spacing)
    true_occ = ndi.distance_transform_edt(~(case.tumor | case.avoid), sampling=case.spacing)
    true_out = ndi.distance_transform_edt(case.organ, sampling=case.spacing)
    rng = np.random.default_rng(0)
    inv = np.linalg.inv(case.affine)
    for b in rng.integers(0, len(prep.block_centres_mm), 300):
        # any centre within the block: check the block corners and centre
        for jitter in ([0, 0, 0], [0.5, 0.5, 0.5], [-0.5, 0.5, -0.5]):
            centre = prep.block_centres_mm[b] + case.affine[:3, :3] @ (np.array(jitter) * prep.block_step)
            ijk = tuple(np.clip(np.rint(inv[:3, :3] @ centre + inv[:3, 3]).astype(int), 0, np.array(case.shape) - 1))
            assert prep.block_dist_vessel_mm[b] <= true_vessel[ijk] + 1e-3
            assert prep.block_dist_occupied_mm[b] <= true_occ[ijk] + 1e-3
            assert prep.block_dist_boundary_mm[b] <= true_out[ijk] + 1e-3


def test_hu_vessels_on_a_contrast_scan_without_vessel_labels():
    labelled = blob_case(phase="portal")
    case = labelled.replace(vessels=None)
    prep = prepare_case(case)
    assert prep.vessel_source == "hu-threshold"
    overlap = (prep.vessels & labelled.vessels).sum() / labelled.vessels.sum()
    assert overlap > 0.8
    assert (prep.vessels & ~labelled.vessels).sum() < 0.2 * labelled.vessels.sum()
    assert prepare_case(case.replace(phase="native")).vessel_source == "none"


def test_real_scan_takes_vessels_from_labels(totalseg_example):
    case = load_case(totalseg_example / "ct.nii.gz", totalseg_example / "seg.nii.gz", "totalsegmentator",
                     phase="native")
    prep = prepare_case(case)
    assert prep.vessel_source == "labels"
    assert 35 < prep.parenchyma_median_hu < 60


def test_no_organ_and_vessels_covering_the_organ_are_refused():
    case = blob_case()
    with pytest.raises(InvalidCaseError, match="no organ mask"):
        prepare_case(case.replace(organ=None))
    with pytest.raises(InvalidCaseError, match="covers the whole organ"):
        prepare_case(case.replace(vessels=case.organ.copy()))
