"""Betti numbers, Euler characteristic and clDice on shapes whose topology is known."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import euler_number

from synthtumor.metrics import BettiNumbers, betti_numbers, cldice, skeleton
from tests.metrics._shapes import ANISO, ball, blob


def torus(shape=(40, 40, 12), major=12.0, minor=3.0):
    x, y, z = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(float)
    ring = np.sqrt((x - (shape[0] - 1) / 2) ** 2 + (y - (shape[1] - 1) / 2) ** 2)
    return (ring - major) ** 2 + (z - (shape[2] - 1) / 2) ** 2 <= minor**2


def test_solid_ball():
    assert betti_numbers(ball((30, 30, 12), ANISO, 8.0)) == BettiNumbers(b0=1, b1=0, b2=0, euler=1)


def test_hollow_cube_has_a_cavity():
    mask = np.zeros((20, 20, 20), bool)
    mask[3:17, 3:17, 3:17] = True
    mask[7:13, 7:13, 7:13] = False
    assert betti_numbers(mask) == BettiNumbers(b0=1, b1=0, b2=1, euler=2)


def test_torus_has_one_tunnel():
    assert betti_numbers(torus()) == BettiNumbers(b0=1, b1=1, b2=0, euler=0)


def test_components_are_26_connected():
    mask = np.zeros((10, 10, 10), bool)
    mask[2, 2, 2] = mask[3, 3, 3] = True  # corner-touching: one component
    mask[7, 7, 7] = True
    assert betti_numbers(mask).b0 == 2


def test_a_cavity_open_to_the_border_is_not_a_cavity():
    mask = np.zeros((12, 12, 12), bool)
    mask[0:8, 0:8, 0:8] = True
    mask[0:3, 3:5, 3:5] = False  # a pit opening on the grid border
    assert betti_numbers(mask).b2 == 0


def test_euler_agrees_with_skimage_and_betti_identity_on_blobs():
    for seed in range(3):
        mask = blob(seed)
        b = betti_numbers(mask)
        assert b.euler == euler_number(mask, connectivity=3)
        assert b.euler == b.b0 - b.b1 + b.b2


def test_empty_mask_has_zero_betti_numbers():
    assert betti_numbers(np.zeros((5, 5, 5), bool)) == BettiNumbers(0, 0, 0, 0)


def test_cldice_empty_rules():
    empty = np.zeros((8, 8, 8), bool)
    one = empty.copy()
    one[2:5, 2:5, 2:5] = True
    assert cldice(empty, empty) == 1.0
    assert cldice(one, empty) == 0.0 and cldice(empty, one) == 0.0
    assert cldice(one, one) == 1.0


def test_cldice_rewards_the_centreline_not_the_thickness():
    shape = (40, 20, 20)
    x, y, z = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r2 = (y - 10) ** 2 + (z - 10) ** 2
    thin = (r2 <= 2) & (x >= 3) & (x < 37)
    thick = (r2 <= 16) & (x >= 3) & (x < 37)
    assert cldice(thick, thin) == pytest.approx(1.0)
    broken = thin & ~((x >= 18) & (x < 22))
    assert cldice(broken, thin) < 1.0


def test_skeleton_is_inside_the_mask_and_same_shape():
    mask = torus()
    skel = skeleton(mask)
    assert skel.shape == mask.shape and skel.any() and not (skel & ~mask).any()
    assert betti_numbers(skel).b1 == 1


def test_not_3d_is_refused():
    with pytest.raises(ValueError):
        betti_numbers(np.zeros((4, 4), bool))
