"""Topology of one class: Betti numbers, Euler characteristic and clDice.

Betti numbers of a 3-D boolean mask (foreground 26-connected, background 6-connected, the
digital-topology pairing that keeps them consistent):

* b0: connected components of the mask (26-connectivity);
* b2: enclosed cavities: 6-connected background components that do not touch the grid border;
* chi: Euler characteristic, ``skimage.measure.euler_number(mask, connectivity=3)``
  (= b0 - b1 + b2);
* b1: tunnels / handles, ``b0 + b2 - chi`` (a solid ball 0, a torus 1, a hollow ball 0).

clDice (Shit et al., CVPR 2021): with S(.) the voxel skeleton of ``skimage.morphology.skeletonize``
(Lee's 3-D thinning, which works on the voxel grid and ignores spacing),
``Tprec = |S(pred) & ref| / |S(pred)|``, ``Tsens = |S(ref) & pred| / |S(ref)|`` and
``clDice = 2 Tprec Tsens / (Tprec + Tsens)``. Both masks empty: 1.0; exactly one empty: 0.0;
a non-empty mask whose skeleton vanishes (never seen with 3-D thinning, which keeps one voxel
per component) uses the mask itself as its skeleton.

Every computation runs inside the bounding box of its mask (padded by one voxel where the
border matters), so an organ in a 512 x 512 x 100 scan costs what its box costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import euler_number
from skimage.morphology import skeletonize

from synthtumor.metrics._crop import bounding_box

__all__ = ["TOPOLOGY_METRICS", "BettiNumbers", "betti_numbers", "skeleton", "cldice"]

TOPOLOGY_METRICS = ("cldice", "b0", "b1", "euler")
_FULL_3D = np.ones((3, 3, 3), dtype=bool)


@dataclass(frozen=True)
class BettiNumbers:
    """Betti numbers and Euler characteristic of a 3-D mask (see module docstring)."""

    b0: int
    b1: int
    b2: int
    euler: int


def _check_3d(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"{name} must be a 3-D array, got shape {mask.shape}")
    return mask


def betti_numbers(mask: np.ndarray) -> BettiNumbers:
    """b0, b1, b2 and the Euler characteristic of a 3-D boolean mask (all 0 when empty).

    Raises:
        ValueError: the mask is not 3-D.
    """
    mask = _check_3d(mask)
    box = bounding_box(mask)
    if box is None:
        return BettiNumbers(0, 0, 0, 0)
    sub = np.pad(mask[box], 1)
    b0 = int(ndi.label(sub, structure=_FULL_3D)[1])
    # The one-voxel pad joins all background that reaches the border into one component.
    b2 = int(ndi.label(~sub)[1]) - 1
    chi = int(euler_number(sub, connectivity=3))
    return BettiNumbers(b0=b0, b1=b0 + b2 - chi, b2=b2, euler=chi)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The 3-D voxel skeleton of ``mask`` (same shape, bool), computed inside its bounding box.

    Raises:
        ValueError: the mask is not 3-D.
    """
    mask = _check_3d(mask)
    out = np.zeros(mask.shape, dtype=bool)
    box = bounding_box(mask)
    if box is not None:
        out[box] = skeletonize(mask[box])
    return out


def _skeleton_in(a: np.ndarray, b: np.ndarray) -> float:
    """|S(a) & b| / |S(a)| for a non-empty ``a``."""
    box = bounding_box(a)
    assert box is not None
    skel = skeletonize(a[box])
    if not skel.any():
        skel = a[box]
    return float(np.count_nonzero(skel & b[box])) / float(np.count_nonzero(skel))


def cldice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Centerline Dice of two 3-D boolean masks (see module docstring; dimensionless).

    Raises:
        ValueError: the masks are not 3-D or their shapes differ.
    """
    pred, ref = _check_3d(pred, "pred"), _check_3d(ref, "ref")
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: {pred.shape} vs {ref.shape}")
    has_p, has_r = bool(pred.any()), bool(ref.any())
    if not has_p and not has_r:
        return 1.0
    if not has_p or not has_r:
        return 0.0
    t_prec = _skeleton_in(pred, ref)
    t_sens = _skeleton_in(ref, pred)
    if t_prec + t_sens == 0:
        return 0.0
    return 2.0 * t_prec * t_sens / (t_prec + t_sens)
