"""The renderer's exact vessel-clearance check against a plain distance computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.lesions import render


def _affine(kind):
    if kind == "1mm":
        return np.eye(4)
    if kind == "thick":
        return np.diag([0.7, 0.7, 5.0, 1.0])
    affine = np.diag([0.8, 0.8, 3.0, 1.0])  # gantry tilt: sheared voxel axes
    affine[1, 2] = 3.0 * np.tan(np.radians(25.0))
    return affine


@pytest.mark.parametrize("kind", ["1mm", "thick", "sheared"])
@pytest.mark.parametrize("clearance", [1.0, 2.0, 6.5])
def test_clear_of_vessels_is_the_euclidean_distance_test(kind, clearance):
    rng = np.random.default_rng(0)
    shape = (40, 36, 20)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), 1.5)
    vessels = smooth > np.percentile(smooth, 97)  # thin, scattered tubes and blobs
    affine = _affine(kind)
    box = (slice(0, 17), slice(9, 30), slice(5, 20))  # touches the volume's edge on two sides
    got = render._clear_of_vessels(vessels, box, clearance, affine)
    # plain: world distance from every box voxel to every vessel voxel
    grid = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1).reshape(-1, 3)
    world = grid @ affine[:3, :3].T
    vessel_world = np.argwhere(vessels) @ affine[:3, :3].T
    nearest = np.full(len(world), np.inf)
    for chunk in np.array_split(np.arange(len(world)), 20):
        d = np.linalg.norm(world[chunk, None, :] - vessel_world[None], axis=2)
        nearest[chunk] = d.min(axis=1)
    expected = (nearest >= clearance).reshape(got.shape)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(got, expected)
