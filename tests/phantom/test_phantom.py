"""make_phantom: anatomy, intensities, vessels, noise, determinism and anisotropic grids.

Full-size default phantoms take a couple of seconds each; they are built once per module.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.case import Case, Phase
from synthtumor.errors import ConfigError, InvalidCaseError
from synthtumor.phantom import LABELS, LEGEND, Phantom, PhantomConfig, make_phantom, phantom_seed

RUN_SEED = 2024
SEEDS = (0, 1, 2)
S26 = np.ones((3, 3, 3), dtype=bool)
COARSE = {"spacing": (2.5, 2.5, 3.0)}


@pytest.fixture(scope="module")
def default_phantoms() -> dict[int, Phantom]:
    config = PhantomConfig()
    return {i: make_phantom(config, phantom_seed(RUN_SEED, i), f"phantom_{i:03d}") for i in SEEDS}


@pytest.fixture(scope="module")
def native_phantom() -> Phantom:
    return make_phantom(PhantomConfig(phase="native"), phantom_seed(RUN_SEED, 10))


@pytest.fixture(scope="module")
def lesion_phantom() -> Phantom:
    return make_phantom(PhantomConfig(n_lesions=4, **COARSE), phantom_seed(RUN_SEED, 20))


def parenchyma(case: Case) -> np.ndarray:
    return case.organ & ~case.vessels & ~case.tumor


def noise_region(case: Case) -> np.ndarray:
    """Liver eroded by 3 voxels, at least 3 mm from any vessel, no tumour."""
    crop = ndi.find_objects(case.organ.astype(np.uint8))[0]
    crop = tuple(slice(max(s.start - 4, 0), s.stop + 4) for s in crop)
    far = ndi.distance_transform_edt(~case.vessels[crop], sampling=case.spacing) >= 3.0
    region = np.zeros(case.shape, dtype=bool)
    region[crop] = ndi.binary_erosion(case.organ[crop] & ~case.tumor[crop], iterations=3) & far
    return region


def n_components(mask: np.ndarray) -> int:
    return int(ndi.label(mask, structure=S26)[1])


# -- the default (portal phase) phantom, over three seeds ----------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_case_is_well_formed(default_phantoms, seed):
    ph = default_phantoms[seed]
    case = ph.case
    assert case.case_id == f"phantom_{seed:03d}"
    assert case.phase is Phase.PORTAL
    assert case.image.dtype == np.float32
    assert np.array_equal(case.image, np.rint(case.image))
    assert case.image.min() >= -1024 and case.image.max() <= 3071
    assert "".join(nib.aff2axcodes(case.affine)) == "RAS"
    assert np.allclose(np.diag(case.affine)[:3], PhantomConfig().spacing)
    centre = case.affine @ np.r_[(np.asarray(case.shape) - 1) / 2.0, 1.0]
    assert np.allclose(centre[:3], 0.0, atol=2.0)
    assert ph.anatomy.dtype == np.uint8 and ph.anatomy.shape == case.shape
    assert set(np.unique(ph.anatomy)) <= set(ph.legend)
    assert ph.legend[0] == "background" and ph.legend == LEGEND
    assert not case.tumor.any() and ph.lesions == []
    json.dumps(ph.info)


@pytest.mark.parametrize("seed", SEEDS)
def test_liver_intensity_volume_and_shape(default_phantoms, seed):
    case = default_phantoms[seed].case
    liver_median = float(np.median(case.image[parenchyma(case)]))
    assert 90.0 <= liver_median <= 120.0
    volume_l = case.volume_ml(case.organ) / 1000.0
    assert 1.2 <= volume_l <= 2.2
    assert n_components(case.organ) == 1
    filled = ndi.binary_fill_holes(case.organ)
    assert np.count_nonzero(filled & ~case.organ) <= 0.001 * np.count_nonzero(case.organ)


@pytest.mark.parametrize("seed", SEEDS)
def test_vessels_enhance_and_fill_a_few_percent(default_phantoms, seed):
    case = default_phantoms[seed].case
    liver_median = float(np.median(case.image[parenchyma(case)]))
    inside = case.vessels & case.organ
    assert float(np.median(case.image[inside])) >= liver_median + 50.0
    fraction = np.count_nonzero(inside) / np.count_nonzero(case.organ)
    assert 0.02 <= fraction <= 0.08


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_level_in_vessel_free_liver(default_phantoms, seed):
    case = default_phantoms[seed].case
    region = noise_region(case)
    assert np.count_nonzero(region) > 10_000
    assert 8.0 <= float(case.image[region].std()) <= 20.0


@pytest.mark.parametrize("seed", SEEDS)
def test_vessel_trees_are_single_components(default_phantoms, seed):
    ph = default_phantoms[seed]
    portal = ph.anatomy == LABELS["portal_vein"]
    hepatic = ph.anatomy == LABELS["hepatic_veins"]
    ivc = ph.anatomy == LABELS["ivc"]
    assert n_components(portal) == 1
    assert n_components(hepatic) == 1
    assert (ndi.binary_dilation(hepatic, S26) & ivc).any(), "the hepatic veins must drain into the IVC"
    assert not (ivc & ph.case.organ).any(), "the IVC is not liver"
    assert np.array_equal(ph.case.vessels, portal | hepatic | ivc)
    # intrahepatic vessels are both organ and vessel; the portal trunk starts outside the liver
    assert (portal & ph.case.organ).any() and (portal & ~ph.case.organ).any()
    assert (hepatic & ph.case.organ).any()


@pytest.mark.parametrize("seed", SEEDS)
def test_anatomy_sits_where_it_should(default_phantoms, seed):
    ph = default_phantoms[seed]
    affine = ph.case.affine

    def centroid(name: str) -> np.ndarray:
        idx = np.argwhere(ph.anatomy == LABELS[name]).mean(axis=0)
        return (affine @ np.r_[idx, 1.0])[:3]

    liver, spleen = centroid("liver"), centroid("spleen")
    assert liver[0] > 20.0, "the liver lies on the patient's right (+x)"
    assert spleen[0] < -40.0, "the spleen lies on the patient's left (-x)"
    assert centroid("vertebra")[1] < -10.0, "the spine is posterior"
    assert centroid("kidney_right")[0] > 0 > centroid("kidney_left")[0]
    assert centroid("kidney_right")[2] < liver[2]
    assert centroid("aorta")[0] < 0 < centroid("ivc")[0]
    assert centroid("lung")[2] > liver[2], "the lung bases lie above the liver"
    stomach_air, stomach = centroid("stomach_air"), centroid("stomach")
    assert stomach_air[1] > stomach[1], "gas floats anteriorly in a supine patient"
    for name in ("skin", "subcutaneous_fat", "muscle", "body_fat", "ribs", "heart",
                 "renal_medulla", "stomach_wall", "bowel", "colon", "spinal_canal"):
        assert (ph.anatomy == LABELS[name]).any(), name


def test_different_seeds_give_different_anatomy(default_phantoms):
    organs = [default_phantoms[s].case.organ for s in SEEDS]
    assert not np.array_equal(organs[0], organs[1])
    assert not np.array_equal(organs[1], organs[2])


# -- native phase ---------------------------------------------------------------------------------
def test_native_phase_vessels_are_close_to_liver(native_phantom):
    case = native_phantom.case
    assert case.phase is Phase.NATIVE
    liver_median = float(np.median(case.image[parenchyma(case)]))
    vessel_median = float(np.median(case.image[case.vessels & case.organ]))
    assert 40.0 <= liver_median <= 70.0
    assert abs(vessel_median - liver_median) <= 15.0


# -- determinism ----------------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes():
    config = PhantomConfig(n_lesions=1, **COARSE)
    a = make_phantom(config, phantom_seed(RUN_SEED, 5))
    b = make_phantom(config, phantom_seed(RUN_SEED, 5))
    assert a.case.image.tobytes() == b.case.image.tobytes()
    assert a.anatomy.tobytes() == b.anatomy.tobytes()
    assert a.lesions == b.lesions


def test_global_rng_is_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    make_phantom(PhantomConfig(**COARSE), phantom_seed(RUN_SEED, 6))
    assert np.array_equal(np.random.get_state()[1], before)


def test_phantom_seed_depends_only_on_run_seed_and_index():
    assert phantom_seed(3, 4).integers(1 << 62) == phantom_seed(3, 4).integers(1 << 62)
    assert phantom_seed(3, 4).integers(1 << 62) != phantom_seed(3, 5).integers(1 << 62)
    assert phantom_seed(3, 4).integers(1 << 62) != phantom_seed(4, 4).integers(1 << 62)
    with pytest.raises(ConfigError):
        phantom_seed(-1, 0)
    with pytest.raises(ConfigError):
        phantom_seed(0, 1.5)


def test_make_phantom_rejects_a_non_config_and_a_bad_case_id():
    with pytest.raises(ConfigError):
        make_phantom({"phase": "portal"}, phantom_seed(0, 0))
    with pytest.raises(InvalidCaseError):
        make_phantom(PhantomConfig(), phantom_seed(0, 0), case_id="bad id/with slash")


# -- anisotropic grid -----------------------------------------------------------------------------
def test_anisotropic_spacing():
    config = PhantomConfig(spacing=(0.8, 0.8, 5.0))
    ph = make_phantom(config, phantom_seed(RUN_SEED, 30))
    case = ph.case
    assert case.shape == (450, 350, 44)
    assert np.allclose(case.spacing, (0.8, 0.8, 5.0))
    assert 1.2 <= case.volume_ml(case.organ) / 1000.0 <= 2.2
    assert n_components(case.organ) == 1
    assert n_components(ph.anatomy == LABELS["portal_vein"]) == 1
    assert n_components(ph.anatomy == LABELS["hepatic_veins"]) == 1
    fraction = np.count_nonzero(case.vessels & case.organ) / np.count_nonzero(case.organ)
    assert 0.02 <= fraction <= 0.08


# -- reference lesions ----------------------------------------------------------------------------
def test_lesions_count_placement_and_records(lesion_phantom):
    ph = lesion_phantom
    case = ph.case
    assert len(ph.lesions) == 4
    assert n_components(case.tumor) == 4, "lesions do not touch each other"
    assert not (case.tumor & ~case.organ).any(), "tumour is a subset of the organ"
    assert not (case.tumor & case.vessels).any()
    assert np.array_equal(case.tumor, ph.anatomy == LABELS["tumour"])
    assert np.array_equal(case.label == 2, case.tumor)
    json.dumps(ph.lesions)
    total = 0.0
    for record in ph.lesions:
        assert {"centre_mm", "equivalent_radius_mm", "volume_ml", "pattern"} <= set(record)
        assert record["pattern"] in ("solid", "rim", "necrotic")
        assert 2.0 <= record["equivalent_radius_mm"] <= 20.0 * 1.02
        centre = np.linalg.inv(case.affine) @ np.r_[record["centre_mm"], 1.0]
        idx = tuple(np.clip(np.rint(centre[:3]).astype(int), 0, np.asarray(case.shape) - 1))
        assert case.organ[idx]
        total += record["volume_ml"]
    assert total == pytest.approx(case.volume_ml(case.tumor), rel=1e-3)


def test_lesions_are_hypoattenuating_in_portal_phase(lesion_phantom):
    case = lesion_phantom.case
    liver_median = float(np.median(case.image[parenchyma(case)]))
    assert float(np.median(case.image[case.tumor])) < liver_median - 15.0


def test_too_many_large_lesions_raise_config_error():
    config = PhantomConfig(n_lesions=20, lesion_radius_range=(38.0, 40.0), **COARSE)
    with pytest.raises(ConfigError, match="n_lesions"):
        make_phantom(config, phantom_seed(RUN_SEED, 40))
