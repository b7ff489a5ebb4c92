"""A lesion's interior by depth: rims and necrotic cores are found, plain lesions are called plain."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.realism.interior import INTERIOR_KEYS, interior_profile, is_necrotic, is_rim

SPACING = (1.0, 1.0, 1.0)


def _ball(radius_vox: float = 12.0, size: int = 32):
    c = (size - 1) / 2
    x, y, z = np.meshgrid(*[np.arange(size) - c] * 3, indexing="ij")
    r = np.sqrt(x * x + y * y + z * z)
    return r, r <= radius_vox


def _image(r, lesion, rim_mm=0.0, rim_hu=0.0, core_radius=0.0, core_hu=20.0, noise=0.0, seed=0):
    image = np.full(r.shape, 100.0)
    image[lesion] = 60.0
    if rim_mm:
        image[lesion & (r > lesion_radius(lesion) - rim_mm)] += rim_hu
    if core_radius:
        image[r <= core_radius] = core_hu
    return image + noise * np.random.default_rng(seed).standard_normal(r.shape)


def lesion_radius(lesion):
    return (3 * lesion.sum() / (4 * math.pi)) ** (1 / 3)


def test_a_plain_lesion_has_neither_rim_nor_core():
    r, lesion = _ball()
    row = interior_profile(_image(r, lesion, noise=10.0), lesion, SPACING)
    assert set(row) == set(INTERIOR_KEYS)
    assert abs(row["rim_hu"]) < 3 and abs(row["core_drop_hu"]) < 3
    assert not is_rim(row) and not is_necrotic(row)


def test_a_rim_is_found_and_measured():
    r, lesion = _ball()
    row = interior_profile(_image(r, lesion, rim_mm=2.5, rim_hu=30.0, noise=10.0), lesion, SPACING)
    assert is_rim(row) and not is_necrotic(row)
    assert 15 < row["rim_hu"] <= 31


def test_a_necrotic_core_is_found_with_its_hu_and_share_of_the_radius():
    r, lesion = _ball()
    row = interior_profile(_image(r, lesion, core_radius=6.0, core_hu=20.0, noise=5.0), lesion, SPACING)
    assert is_necrotic(row) and not is_rim(row)
    assert row["core_hu"] == pytest.approx(20.0, abs=3.0)
    assert row["core_radius_fraction"] == pytest.approx(6.0 / 12.0, abs=0.08)


def test_a_small_lesion_gets_a_rim_measure_but_no_core():
    r, lesion = _ball(radius_vox=5.0, size=16)
    row = interior_profile(_image(r, lesion, rim_mm=2.0, rim_hu=30.0), lesion, SPACING)
    assert math.isnan(row["core_drop_hu"]) and math.isnan(row["core_radius_fraction"])
    assert is_rim(row)


def test_an_empty_mask_gives_nan():
    row = interior_profile(np.zeros((4, 4, 4)), np.zeros((4, 4, 4), bool), SPACING)
    assert all(math.isnan(v) for v in row.values())


def test_the_rim_width_and_the_viable_tissue_are_measured():
    r, lesion = _ball()
    image = _image(r, lesion, rim_mm=2.5, rim_hu=30.0)
    row = interior_profile(image, lesion, SPACING)
    assert 2.0 <= row["rim_width_mm"] <= 3.5
    # the viable tissue (60 HU) lies below the lesion's mean, which the bright rim raises
    assert row["viable_offset_hu"] == pytest.approx(60.0 - image[lesion].mean(), abs=0.5)
    assert row["viable_std_hu"] == pytest.approx(0.0, abs=0.5)
    plain = interior_profile(_image(r, lesion), lesion, SPACING)
    assert math.isnan(plain["rim_width_mm"]) and plain["viable_offset_hu"] == pytest.approx(0.0, abs=0.5)


def test_a_blurred_hypodense_lesion_with_a_generous_mask_is_not_called_rim():
    """The surface layer mixes with the surroundings (blur, a mask drawn a voxel wide): no band holds it."""
    from scipy import ndimage as ndi

    r, lesion = _ball(radius_vox=10.0)
    image = ndi.gaussian_filter(_image(r, lesion), 1.0)  # 100 HU around, 60 HU inside, blurred
    wide = ndi.binary_dilation(lesion)
    row = interior_profile(image + np.random.default_rng(1).normal(0, 5, r.shape), wide, SPACING)
    assert not is_rim(row)  # (14.6 HU, a rim, when the surface layer counted in the periphery)


def _speck(shape, centre, amplitude_hu, sigma_mm):
    x, y, z = np.meshgrid(*[np.arange(n) - c for n, c in zip(shape, centre)], indexing="ij")
    return amplitude_hu * np.exp(-(x * x + y * y + z * z) / (2 * sigma_mm**2))


def test_a_calcified_speck_is_counted_measured_and_left_out_of_the_viable_std():
    r, lesion = _ball()
    image = _image(r, lesion, noise=5.0)
    calcified = image + _speck(r.shape, (22, 15, 15), 500.0, 1.5)  # 6.5 mm deep in a 12 mm ball: the middle band
    row = interior_profile(calcified, lesion, SPACING)
    plain = interior_profile(image, lesion, SPACING)
    assert plain["calcified_specks"] == 0 and math.isnan(plain["calcification_peak_hu"])
    assert row["calcified_specks"] == 1
    assert row["calcification_peak_hu"] == pytest.approx(500.0, abs=20.0)
    assert row["calcification_sigma_mm"] == pytest.approx(1.5, abs=0.3)
    # the speck and its halo (above 60 + 30 HU) count in no viable std; its faint fringe does
    assert row["viable_std_hu"] == pytest.approx(plain["viable_std_hu"], rel=0.3)
    assert row["viable_std_hu"] < 0.5 * float(calcified[lesion & (r > 3) & (r < 9)].std())


def test_two_specks_count_two_and_rims_or_vessels_below_the_threshold_count_none():
    r, lesion = _ball()
    image = _image(r, lesion, rim_mm=2.5, rim_hu=120.0, noise=5.0)  # a bright rim at 180 HU: no calcification
    assert interior_profile(image, lesion, SPACING)["calcified_specks"] == 0
    specks = image + _speck(r.shape, (22, 15, 15), 400.0, 1.0) + _speck(r.shape, (9, 15, 15), 400.0, 1.0)
    assert interior_profile(specks, lesion, SPACING)["calcified_specks"] == 2
