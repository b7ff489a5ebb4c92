"""Voxel grids and boxes: a world ball's box holds the ball on any affine, offsets map to mm."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.generators.heuristic import random_rotation
from synthtumor.lesions.voxel_grid import ball_box, voxel_grid, voxel_offsets

SHAPE = (60, 50, 30)


def _affine(spacing, kind, seed=0):
    affine = np.diag([*spacing, 1.0])
    if kind == "sheared":  # gantry tilt: voxel axes not orthogonal
        affine[1, 2] = spacing[2] * np.tan(np.radians(20.0))
    elif kind == "oblique":
        affine[:3, :3] = random_rotation(np.random.default_rng(seed)) @ np.diag(spacing)
    affine[:3, 3] = [-40.0, 12.0, 7.5]
    return affine


def _world(affine):
    """World position (mm) of every voxel centre, shaped (3, *SHAPE)."""
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in SHAPE], indexing="ij"))
    return np.tensordot(affine[:3, :3], index, axes=1) + affine[:3, 3][:, None, None, None]


GRIDS = [((1.0, 1.0, 1.0), "axial"), ((0.7, 0.8, 5.0), "axial"), ((0.8, 0.9, 2.5), "oblique"),
         ((0.8, 0.8, 3.0), "sheared")]


@pytest.mark.parametrize("spacing,kind", GRIDS)
@pytest.mark.parametrize("where", ["inside", "at the edge"])
def test_ball_box_holds_every_voxel_of_the_ball(spacing, kind, where):
    affine = _affine(spacing, kind)
    voxel = np.array([30.3, 24.6, 14.2]) if where == "inside" else np.array([2.4, 47.5, 1.1])
    centre = affine[:3, :3] @ voxel + affine[:3, 3]
    radius = 9.5
    box = ball_box(centre, radius, affine, SHAPE)
    inside = ((_world(affine) - centre[:, None, None, None]) ** 2).sum(axis=0) <= radius**2
    in_box = np.zeros(SHAPE, dtype=bool)
    in_box[box] = True
    assert inside.any() and not (inside & ~in_box).any()
    assert all(0 <= s.start <= s.stop <= n for s, n in zip(box, SHAPE))


@pytest.mark.parametrize("spacing,kind", GRIDS)
def test_offsets_are_world_offsets_from_the_centre(spacing, kind):
    affine = _affine(spacing, kind)
    centre = affine[:3, :3] @ np.array([20.5, 11.25, 9.75]) + affine[:3, 3]
    box = (slice(10, 30), slice(5, 20), slice(3, 17))
    size = tuple(s.stop - s.start for s in box)
    d = [np.broadcast_to(o, size).astype(float) for o in voxel_offsets(centre, affine, box)]
    world = np.tensordot(affine[:3, :3], np.stack(d), axes=1)
    expected = _world(affine)[(slice(None), *box)] - centre[:, None, None, None]
    np.testing.assert_allclose(world, expected, atol=1e-4)


def test_the_grid_is_cached_and_read_only():
    affine = _affine((0.7, 0.8, 5.0), "oblique")
    grid = voxel_grid(affine)
    assert voxel_grid(affine.copy()) is grid
    np.testing.assert_allclose(grid.spacing, [0.7, 0.8, 5.0])
    assert not grid.isotropic and grid.orthogonal and not voxel_grid(_affine((0.8, 0.8, 3.0), "sheared")).orthogonal
    with pytest.raises(ValueError):
        grid.inverse[0, 0] = 1.0
