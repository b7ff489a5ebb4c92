"""Contrast against the shell, internal spread, GLCM, signed distance and edge width."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.realism import edge_width_mm, glcm_texture, lesion_features, signed_distance_mm
from tests.realism._volumes import BACKGROUND_HU, ball_scene


@pytest.mark.parametrize("contrast", [-60.0, 45.0])
def test_contrast_of_a_sharp_ball_is_exact(contrast):
    image, mask, sp = ball_scene(8.0, (0.8, 0.8, 2.0), contrast_hu=contrast)
    features = lesion_features(image, mask, ~mask, sp)
    assert features["contrast_hu"] == pytest.approx(contrast, abs=1e-4)
    assert features["std_hu"] == pytest.approx(0.0, abs=1e-4)
    assert features["glcm_contrast"] == 0.0 and features["glcm_homogeneity"] == 1.0


def test_contrast_with_noise_and_the_shell_excludes_vessels_and_other_tumours():
    image, mask, sp = ball_scene(8.0, contrast_hu=-40.0, noise_hu=10.0, seed=1)
    distance = signed_distance_mm(mask, sp)
    vessel = (distance > 0) & (distance <= 5.0) & (np.indices(mask.shape)[0] < mask.shape[0] // 2)
    other = (distance > 0) & (distance <= 5.0) & (np.indices(mask.shape)[1] < mask.shape[1] // 3) & ~vessel
    image = image.copy()
    image[vessel] = 300.0
    image[other] = -200.0
    tissue = ~mask & ~vessel & ~other
    features = lesion_features(image, mask, tissue, sp)
    assert features["contrast_hu"] == pytest.approx(-40.0, abs=2.0)
    assert features["std_hu"] == pytest.approx(10.0, rel=0.1)


def test_signed_distance_puts_face_neighbours_half_a_voxel_from_the_surface():
    spacing = (0.7, 0.7, 5.0)
    mask = np.zeros((9, 9, 7), bool)
    mask[3:6, 3:6, 2:5] = True
    d = signed_distance_mm(mask, spacing)
    assert d[2, 4, 3] == pytest.approx(0.35) and d[6, 4, 3] == pytest.approx(0.35)
    assert d[4, 4, 1] == pytest.approx(2.5) and d[4, 4, 0] == pytest.approx(7.5)
    assert d[3, 4, 3] == pytest.approx(-0.35) and d[4, 4, 3] == pytest.approx(-1.05)
    assert (d[mask] < 0).all() and (d[~mask] > 0).all()


@pytest.mark.parametrize("spacing, sigma", [((1.0, 1.0, 1.0), 1.5), ((1.0, 1.0, 1.0), 1.0), ((0.8, 0.8, 2.0), 1.5)])
def test_edge_width_of_a_blurred_ball_within_a_voxel(spacing, sigma):
    image, mask, sp = ball_scene(10.0, spacing, contrast_hu=-60.0, blur_mm=sigma)
    width = lesion_features(image, mask, ~mask, sp)["edge_width_mm"]
    assert width == pytest.approx(2.563 * sigma, abs=min(sp))


def test_sharp_edge_is_narrow_and_an_isodense_lesion_has_no_edge():
    image, mask, sp = ball_scene(10.0, contrast_hu=-60.0)
    distance = signed_distance_mm(mask, sp)
    assert edge_width_mm(image, distance, mask, ~mask) < 1.0
    flat = np.full(mask.shape, BACKGROUND_HU, np.float32)
    assert math.isnan(edge_width_mm(flat, distance, mask, ~mask))
    assert math.isnan(edge_width_mm(image, distance, mask, np.zeros_like(mask)))  # no tissue around


def test_glcm_sees_only_the_lesion_and_rises_with_texture():
    image, mask, sp = ball_scene(8.0, contrast_hu=-40.0, noise_hu=15.0, seed=2)
    image = np.where(mask, 60.0, image).astype(np.float32)  # flat lesion in a noisy surrounding
    contrast, homogeneity = glcm_texture(image, mask)
    assert (contrast, homogeneity) == (0.0, 1.0)
    textured, _, _ = ball_scene(8.0, contrast_hu=-40.0, noise_hu=15.0, seed=2)
    rough_contrast, rough_homogeneity = glcm_texture(textured, mask)
    assert rough_contrast > 0.5 and rough_homogeneity < 0.9
    coarse, _ = glcm_texture(textured, mask, levels=8)
    assert coarse < rough_contrast  # fewer grey levels: smaller level differences
