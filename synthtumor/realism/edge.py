"""Signed distance to a lesion's surface and the edge width of its radial HU profile.

Signed distance (mm), negative inside the lesion and positive outside: for a voxel ``p`` the
Euclidean distance transform (``scipy.ndimage.distance_transform_edt`` with the case spacing)
gives the nearest voxel ``q`` on the other side of the boundary; the mask's surface is the
boundary of ``q``'s voxel box, so the distance to it is ``|p - q| - t``, where
``t = min_i (s_i / 2) / |u_i|`` is how far the ray ``u = (p - q) / |p - q|`` runs inside
``q``'s box of size ``s`` (mm). A face neighbour then lies half a voxel from the surface
(``+-s_i / 2``) along any axis, anisotropic spacing included, rather than a whole voxel.

Edge width (mm), the 10-90 % rise of the mean radial profile:

1. the profile is the mean HU per bin of signed distance, bins of ``bin_mm`` (0.5 mm) from
   ``-range_mm`` to ``+range_mm`` (-6 to +6 mm); inside bins average the lesion's voxels,
   outside bins the surrounding tissue (organ voxels that are no tumour and no vessel);
2. plateaus: ``L_in`` is the mean HU of lesion voxels at ``d <= -plateau_mm`` (3 mm; for a
   lesion thinner than that, the innermost non-empty bin), ``L_out`` the mean HU of tissue
   voxels at ``plateau_mm <= d <= range_mm``;
3. the profile is normalised, ``p = (HU - L_out) / (L_in - L_out)`` (1 inside, 0 outside, for
   hypo- and hyper-attenuating lesions alike); from the 50 % crossing nearest the surface
   (``d = 0``) the walk goes inwards to where ``p`` reaches 0.9 and outwards to where it falls to
   0.1, each crossing linearly interpolated between bin centres;
4. the width is ``d_10 - d_90``. An ideal blurred step ``Phi(d / sigma)`` gives
   ``2 x 1.2816 sigma = 2.563 sigma``; a sharp edge about one bin.

The width is NaN when ``|L_in - L_out|`` is below ``min_contrast_hu`` (10 HU: an iso-attenuating
lesion has no edge to measure), when there is no tissue outside, or when a crossing lies outside
the profile's range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

__all__ = ["signed_distance_mm", "radial_profile", "edge_width_mm"]


def _distance_to_surface(region: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """For voxels of ``region``: distance (mm) to the boundary of the nearest voxel outside it."""
    dist, nearest = ndi.distance_transform_edt(region, sampling=spacing, return_indices=True)
    delta = np.abs(np.indices(region.shape, dtype=np.float64) - nearest) * spacing[:, None, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        exit_mm = np.where(delta > 0, (spacing / 2.0)[:, None, None, None] * dist / delta, np.inf).min(axis=0)
    return np.where(region, dist - exit_mm, 0.0)


def signed_distance_mm(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Signed distance (mm) of every voxel to the surface of ``mask`` (see module docstring).

    Args:
        mask: 3-D boolean lesion mask; it must have both inside and outside voxels.
        spacing: voxel size per axis in mm.

    Returns:
        float64 array, negative inside the mask, positive outside.

    Raises:
        ValueError: the mask is empty or fills the whole array.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any() or mask.all():
        raise ValueError("signed_distance_mm needs voxels both inside and outside the mask")
    sp = np.asarray(spacing, dtype=np.float64)
    return _distance_to_surface(~mask, sp) - _distance_to_surface(mask, sp)


def radial_profile(
    image: np.ndarray,
    distance_mm: np.ndarray,
    lesion: np.ndarray,
    tissue: np.ndarray,
    *,
    range_mm: float = 6.0,
    bin_mm: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean HU per signed-distance bin: lesion voxels inside, tissue voxels outside.

    Args:
        image: HU volume.
        distance_mm: signed distance to the lesion surface (mm), same shape.
        lesion: the lesion's mask.
        tissue: voxels allowed outside (organ, no tumour, no vessel).
        range_mm: the profile spans ``[-range_mm, +range_mm)``.
        bin_mm: bin width in mm.

    Returns:
        ``(centres_mm, mean_hu, counts)``; ``mean_hu`` is NaN for an empty bin.
    """
    n_bins = int(round(2.0 * range_mm / bin_mm))
    keep = (lesion | (tissue & ~lesion)) & (distance_mm >= -range_mm) & (distance_mm < range_mm)
    index = np.clip(np.floor((distance_mm[keep] + range_mm) / bin_mm).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    sums = np.bincount(index, weights=image[keep].astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    centres = -range_mm + bin_mm * (np.arange(n_bins) + 0.5)
    return centres, mean, counts


def _crossing(c_a: float, p_a: float, c_b: float, p_b: float, level: float) -> float:
    if p_b == p_a:
        return 0.5 * (c_a + c_b)
    return c_a + (level - p_a) / (p_b - p_a) * (c_b - c_a)


def edge_width_mm(
    image: np.ndarray,
    distance_mm: np.ndarray,
    lesion: np.ndarray,
    tissue: np.ndarray,
    *,
    range_mm: float = 6.0,
    bin_mm: float = 0.5,
    plateau_mm: float = 3.0,
    min_contrast_hu: float = 10.0,
) -> float:
    """10-90 % rise distance (mm) of the lesion's radial HU profile (see module docstring)."""
    centres, mean, counts = radial_profile(image, distance_mm, lesion, tissue, range_mm=range_mm, bin_mm=bin_mm)
    tissue_out = tissue & ~lesion
    outer = tissue_out & (distance_mm >= plateau_mm) & (distance_mm <= range_mm)
    if not outer.any():
        return math.nan
    l_out = float(image[outer].mean())
    inner = lesion & (distance_mm <= -plateau_mm) & (distance_mm >= -range_mm)
    if inner.any():
        l_in = float(image[inner].mean())
    else:
        filled = np.flatnonzero(counts > 0)
        if filled.size == 0 or centres[filled[0]] >= 0:
            return math.nan
        l_in = float(mean[filled[0]])
    if not abs(l_in - l_out) >= min_contrast_hu:
        return math.nan
    valid = counts > 0
    c, p = centres[valid], (mean[valid] - l_out) / (l_in - l_out)
    # the 50 % crossing nearest the surface: between consecutive bins j, j+1 with p[j] >= 0.5 > p[j+1]
    down = np.flatnonzero((p[:-1] >= 0.5) & (p[1:] < 0.5))
    if down.size == 0:
        return math.nan
    at = np.array([_crossing(c[j], p[j], c[j + 1], p[j + 1], 0.5) for j in down])
    j = int(down[np.argmin(np.abs(at))])
    i = j
    while i >= 0 and p[i] < 0.9:
        i -= 1
    k = j + 1
    while k < p.size and p[k] > 0.1:
        k += 1
    if i < 0 or k >= p.size:
        return math.nan
    d90 = _crossing(c[i], p[i], c[i + 1], p[i + 1], 0.9)
    d10 = _crossing(c[k - 1], p[k - 1], c[k], p[k], 0.1)
    return float(d10 - d90)
