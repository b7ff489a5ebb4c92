"""Sphericity, irregularity and equivalent radius on analytic shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.realism import lesion_features, lesion_shape
from tests.realism._volumes import ball_scene, ellipsoid_mask, grid_mm


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.5)])
def test_sphere_is_nearly_spherical_and_has_its_radius(spacing):
    image, mask, sp = ball_scene(10.0, spacing)
    features = lesion_features(image, mask, ~mask, sp)
    # voxel volume of a well-sampled ball: within 3 % of 4/3 pi r^3, so the radius within 1 %
    assert features["equivalent_radius_mm"] == pytest.approx(10.0, rel=0.01)
    assert features["volume_ml"] == pytest.approx(4 / 3 * math.pi * 1e3 / 1e3, rel=0.03)
    # a binary mask's staircase keeps marching-cubes sphericity a little below 1
    assert 0.85 < features["sphericity"] <= 1.0
    assert 0.97 < features["irregularity"] < 1.1


def test_elongated_and_folded_shapes_score_as_such():
    sphere = lesion_shape(ball_scene(10.0)[1], (1.0, 1.0, 1.0))
    ellipsoid = lesion_shape(ellipsoid_mask((12.0, 6.0, 6.0)), (1.0, 1.0, 1.0))
    x, y, z = grid_mm(12.0, (1.0, 1.0, 1.0), 3.0)
    r = np.sqrt(x**2 + y**2 + z**2) + 1e-9
    theta, phi = np.arccos(z / r), np.arctan2(y, x)
    lobes = r <= 10.0 * (0.8 + 0.3 * np.cos(5 * phi) * np.sin(theta) * np.cos(4 * theta))
    folded = lesion_shape(lobes, (1.0, 1.0, 1.0))
    assert ellipsoid.sphericity < sphere.sphericity - 0.05
    assert folded.sphericity < ellipsoid.sphericity
    # elongation alone leaves the hull ratio near 1; folds raise it
    assert abs(ellipsoid.irregularity - 1.0) < 0.05
    assert folded.irregularity > sphere.irregularity + 0.02


def test_tiny_lesion_is_bounded_and_empty_is_nan():
    single = np.zeros((3, 3, 3), bool)
    single[1, 1, 1] = True
    shape = lesion_shape(single, (1.0, 1.0, 1.0))
    assert 0 < shape.sphericity <= 1.0 and shape.surface_mm2 > 0
    assert all(math.isnan(v) for v in (lambda s: (s.surface_mm2, s.sphericity, s.irregularity))(
        lesion_shape(np.zeros((3, 3, 3), bool), (1.0, 1.0, 1.0))))
