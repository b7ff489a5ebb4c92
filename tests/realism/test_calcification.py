"""Calcified specks: found below the surface only, sized from their half maximum, their halo kept off noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.realism.interior import interior_profile
from synthtumor.realism.preset_builder import viable_contrast, viable_std

SPACING = (1.0, 1.0, 1.0)


def _ball(radius=12.0, size=34):
    c = (size - 1) / 2
    x, y, z = np.meshgrid(*[np.arange(size) - c] * 3, indexing="ij")
    return x, y, z, np.sqrt(x * x + y * y + z * z) <= radius


def _lesion_image(lesion, noise=5.0, seed=0):
    image = np.full(lesion.shape, 100.0)
    image[lesion] = 60.0
    return image + noise * np.random.default_rng(seed).standard_normal(lesion.shape)


def _speck(x, y, z, at, amplitude, sigma):
    return amplitude * np.exp(-((x - at[0]) ** 2 + (y - at[1]) ** 2 + (z - at[2]) ** 2) / (2 * sigma**2))


def test_a_mask_drawn_into_a_bright_vessel_has_no_speck():
    x, y, z, lesion = _ball()
    image = _lesion_image(lesion)
    tube = (y**2 + z**2 <= 9) & (x > 12.5)  # a 260 HU vessel ending just outside the ball
    image[tube] = 260.0
    wide = lesion | (tube & (x <= 14))  # the mask takes one voxel of it (its surface layer)
    assert interior_profile(image, wide, SPACING)["calcified_specks"] == 0
    deep = lesion | (tube & (x <= 16))  # deeper: those voxels are labelled vessel and excluded
    assert interior_profile(image, deep, SPACING)["calcified_specks"] >= 1
    assert interior_profile(image, deep, SPACING, exclude=tube)["calcified_specks"] == 0


def test_a_dim_broad_speck_is_sized_from_its_half_maximum():
    x, y, z, lesion = _ball()
    image = _lesion_image(lesion, noise=2.0) + _speck(x, y, z, (0, 0, 0), 260.0, 2.5)
    row = interior_profile(image, lesion, SPACING)
    assert row["calcified_specks"] == 1
    assert row["calcification_sigma_mm"] == pytest.approx(2.5, rel=0.15)
    # the speck's centre sits half a voxel off every voxel centre: the brightest voxel reads exp(-0.75 / 12.5)
    assert row["calcification_peak_hu"] == pytest.approx(260.0 * math.exp(-0.75 / 12.5), abs=8.0)


def test_the_halo_does_not_take_the_bright_half_of_a_noisy_scan():
    x, y, z, lesion = _ball()
    for seed in range(3):
        image = _lesion_image(lesion, noise=30.0, seed=seed)
        plain = interior_profile(image, lesion, SPACING)["viable_std_hu"]
        specked = interior_profile(image + _speck(x, y, z, (6.5, 0, 0), 500.0, 1.0), lesion, SPACING)
        assert specked["calcified_specks"] >= 1
        assert specked["viable_std_hu"] == pytest.approx(plain, rel=0.08)


def test_a_lesion_dense_throughout_is_left_out_of_the_contrast_and_texture_laws():
    _, _, _, lesion = _ball()
    image = _lesion_image(lesion)
    image[lesion] = 450.0 + np.random.default_rng(1).normal(0, 20, int(lesion.sum()))
    row = interior_profile(image, lesion, SPACING)
    assert row["calcified_fraction"] > 0.6
    full = {**row, "contrast_hu": 350.0, "std_hu": 20.0}
    assert math.isnan(viable_std(full)) and math.isnan(viable_contrast(full))


def test_a_small_lesion_with_a_speck_gives_no_texture_or_contrast_and_one_without_its_whole_lesions():
    small = {"viable_std_hu": math.nan, "viable_offset_hu": math.nan, "std_hu": 50.0, "contrast_hu": -10.0,
             "calcified_specks": 1.0, "calcified_fraction": 0.05}
    assert math.isnan(viable_std(small)) and math.isnan(viable_contrast(small))
    clean = {**small, "calcified_specks": 0.0, "calcified_fraction": 0.0}
    assert viable_std(clean) == 50.0 and viable_contrast(clean) == -10.0


def test_the_bright_tail_of_a_noisy_lesion_is_no_speck_but_a_real_speck_in_it_is():
    x, y, z, lesion = _ball(radius=15.0, size=40)
    for seed in range(3):
        noisy = _lesion_image(lesion, noise=40.0, seed=seed)  # ~14 000 voxels: a few beyond +150 HU
        assert interior_profile(noisy, lesion, SPACING)["calcified_specks"] == 0
        specked = noisy + _speck(x, y, z, (8.5, 0.5, 0.5), 600.0, 1.2)
        assert interior_profile(specked, lesion, SPACING)["calcified_specks"] == 1


def test_a_dense_lesion_with_cooler_dense_parts_is_measured_without_a_peak():
    """A lesion dense throughout (450 HU) with a 250 HU outer shell: both dense, neither a speck of the other."""
    x, y, z, lesion = _ball()
    r = np.sqrt(x * x + y * y + z * z)
    image = _lesion_image(lesion)
    image[lesion] = 450.0
    image[lesion & (r > 8.0) & (r <= 9.5)] = 100.0
    image[lesion & (r > 9.5)] = 250.0
    row = interior_profile(image, lesion, SPACING)
    assert row["calcified_fraction"] > 0.3 and row["calcified_specks"] >= 1
    assert math.isnan(row["calcification_peak_hu"]) and math.isnan(row["calcification_sigma_mm"])
