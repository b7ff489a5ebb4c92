"""Mass effect: the fast gathers against a plain float64 evaluation, nothing moves outside the zone."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.generators.heuristic import random_rotation
from synthtumor.lesions.mass_effect import displace, moving_radius, source_scale
from synthtumor.lesions.voxel_grid import ball_box

#: (spacing, oblique) of the zone-box checks: isotropic, thick oblique slices, a sheared grid.
ZONE_GRIDS = [((1.0, 1.0, 1.0), False), ((0.7, 0.7, 5.0), True), ((0.8, 0.8, 3.0), "sheared")]


def _scene(spacing, oblique, seed=0):
    rng = np.random.default_rng(seed)
    affine = np.diag([*spacing, 1.0])
    if oblique == "sheared":  # gantry tilt: the voxel axes are not orthogonal
        affine[1, 2] = spacing[2] * np.tan(np.radians(25.0))
    elif oblique:
        affine[:3, :3] = random_rotation(rng) @ np.diag(spacing)
        affine[:3, 3] = [5.0, -3.0, 2.0]
    shape = (70, 64, 40)
    image = (ndi.gaussian_filter(rng.standard_normal(shape), 2) * 400).astype(np.float32)
    masks = {
        "organ": image > np.percentile(image, 30),
        "vessels": image > np.percentile(image, 90),
        "tumor": image < np.percentile(image, 10),
    }
    centre_vox = np.array([35.2, 31.7, 20.4])
    centre = affine[:3, :3] @ centre_vox + affine[:3, 3]
    return affine, image, masks, centre


def reference(image, masks, centre, affine, box, zone, strength):
    """Nearest source voxels from world coordinates in float64, for the image and every mask."""
    grids = np.stack(np.meshgrid(*[np.arange(s.start, s.stop, dtype=float) for s in box], indexing="ij"))
    x = np.tensordot(affine[:3, :3], grids, axes=1) + (affine[:3, 3] - centre)[:, None, None, None]
    r2 = (x * x).sum(axis=0)
    inside = r2 < zone**2
    source = centre[:, None] + x[:, inside] * source_scale(r2[inside].astype(np.float32), zone, strength)
    vox = np.linalg.inv(affine[:3, :3]) @ (source - affine[:3, 3:4]) - np.array([s.start for s in box])[:, None]
    near = tuple(np.clip(np.floor(vox + 0.5), 0, np.array(image[box].shape)[:, None] - 1).astype(int))
    out_image = image.copy()
    out_image[box][inside] = image[box][near]
    out_masks = {}
    for name, mask in masks.items():
        moved = mask.copy()
        moved[box][inside] = mask[box][near]
        out_masks[name] = moved
    return out_image, out_masks


@pytest.mark.parametrize("spacing,oblique", [((1.0, 1.0, 1.0), False), ((0.7, 0.7, 5.0), False),
                                             ((0.8, 0.9, 2.5), True), ((0.8, 0.8, 2.5), "sheared")])
def test_displace_matches_scipy_and_touches_only_the_zone(spacing, oblique):
    affine, image, masks, centre = _scene(spacing, oblique)
    zone, strength = 18.0, 0.25
    box = (slice(8, 62), slice(5, 60), slice(0, 40))
    expected_image, expected_masks = reference(image, masks, centre, affine, box, zone, strength)
    volumes = {"image": image.copy(), **{k: v.copy() for k, v in masks.items()}}
    displace(volumes, centre, affine, box, zone, strength)
    # float32 against float64 coordinates can round a tie differently: allow 0.1 % of the zone
    differs = volumes["image"] != expected_image
    assert differs.sum() <= 0.001 * image[box].size
    for name in masks:
        assert (volumes[name] != expected_masks[name])[~differs].sum() == 0  # labels moved with the image
        assert (volumes[name] != masks[name]).sum() > 100  # tissue did move
    # every output voxel is an input voxel: the noise is not smoothed
    assert np.isin(volumes["image"][box], image[box]).all()
    changed = (volumes["image"] != image) | np.any([volumes[k] != masks[k] for k in masks], axis=0)
    grids = np.stack(np.meshgrid(*[np.arange(n) for n in image.shape], indexing="ij")).reshape(3, -1)
    dist = np.linalg.norm(affine[:3, :3] @ grids + affine[:3, 3:4] - centre[:, None], axis=0).reshape(image.shape)
    assert not changed[dist >= zone].any()


def test_no_folding_along_a_ray():
    # a radial ramp stays monotone along an axis through the centre after the push
    affine = np.eye(4)
    shape = (61, 61, 61)
    grids = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"))
    centre = np.array([30.0, 30.0, 30.0])
    ramp = np.sqrt(((grids - centre[:, None, None, None]) ** 2).sum(axis=0)).astype(np.float32)
    volumes = {"image": ramp.copy()}
    displace(volumes, centre, affine, tuple(slice(0, n) for n in shape), 25.0, 0.6)
    profile = volumes["image"][30:, 30, 30]
    assert np.all(np.diff(profile) >= 0) and profile[-1] > profile[0]
    assert np.all(profile <= ramp[30:, 30, 30] + 1e-4)  # tissue came from nearer the centre
    assert (profile < ramp[30:, 30, 30] - 0.5).sum() >= 5  # and moved by whole voxels


def test_zero_strength_changes_nothing():
    affine, image, masks, centre = _scene((1.0, 1.0, 1.0), False)
    volumes = {"image": image.copy(), **{k: v.copy() for k, v in masks.items()}}
    displace(volumes, centre, affine, (slice(0, 70), slice(0, 64), slice(0, 40)), 15.0, 0.0)
    assert volumes["image"].tobytes() == image.tobytes()
    for name in masks:
        assert (volumes[name] == masks[name]).all()


@pytest.mark.parametrize("spacing,oblique", ZONE_GRIDS)
def test_zone_box_holds_the_zone_ball(spacing, oblique):
    affine, image, _, centre = _scene(spacing, oblique)
    zone = 14.0
    box = ball_box(centre, zone, affine, image.shape)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in image.shape], indexing="ij"), axis=-1).reshape(-1, 3)
    world = grid @ affine[:3, :3].T + affine[:3, 3]
    inside_ball = np.linalg.norm(world - centre, axis=1) < zone
    in_box = np.all([(grid[:, v] >= box[v].start) & (grid[:, v] < box[v].stop) for v in range(3)], axis=0)
    assert inside_ball.any() and not (inside_ball & ~in_box).any()


@pytest.mark.parametrize("spacing,oblique", ZONE_GRIDS)
@pytest.mark.parametrize("zone,strength", [(18.0, 0.25), (30.0, 0.1), (8.0, 0.05), (6.0, 0.02)])
def test_nothing_beyond_the_moving_radius_moves(spacing, oblique, zone, strength):
    # the float64 reference's nearest source is the voxel itself wherever r >= moving_radius
    affine, image, masks, centre = _scene(spacing, oblique)
    reach = moving_radius(zone, strength, affine)
    box = (slice(0, 70), slice(0, 64), slice(0, 40))
    moved_image, _ = reference(image, masks, centre, affine, box, zone, strength)
    grids = np.stack(np.meshgrid(*[np.arange(n) for n in image.shape], indexing="ij")).reshape(3, -1)
    dist = np.linalg.norm(affine[:3, :3] @ grids + affine[:3, 3:4] - centre[:, None], axis=0).reshape(image.shape)
    assert not (moved_image != image)[dist >= reach].any()
    if reach == 0.0:  # nothing moves at all: displace leaves every byte
        volumes = {"image": image.copy()}
        displace(volumes, centre, affine, box, zone, strength)
        assert volumes["image"].tobytes() == image.tobytes()
    else:
        assert reach < zone and (moved_image != image).any()


@pytest.mark.parametrize("spacing,oblique", [((1.0, 1.0, 1.0), False), ((0.8, 0.8, 2.5), "sheared")])
def test_centre_beyond_the_box_as_in_a_crop(spacing, oblique):
    # an on-the-fly crop can cut the zone off its centre: sources past the box edge take the
    # edge voxel (the float64 reference clips the same way), nothing outside the box changes
    affine, image, masks, centre = _scene(spacing, oblique)
    zone, strength = 18.0, 0.25
    centre_vox = np.linalg.solve(affine[:3, :3], centre - affine[:3, 3])
    start = int(np.floor(centre_vox[0])) + 3  # the box starts three voxels past the centre
    box = (slice(start, 70), slice(0, 64), slice(0, 40))
    expected_image, expected_masks = reference(image, masks, centre, affine, box, zone, strength)
    volumes = {"image": image.copy(), **{k: v.copy() for k, v in masks.items()}}
    displace(volumes, centre, affine, box, zone, strength)
    differs = volumes["image"] != expected_image
    assert differs.sum() <= 0.001 * image[box].size
    assert (volumes["image"] != image)[box].any()
    outside = np.ones(image.shape, bool)
    outside[box] = False
    assert (volumes["image"] == image)[outside].all()
