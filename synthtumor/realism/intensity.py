"""Lesion intensity: contrast against a parenchymal shell, internal spread, GLCM texture.

* Contrast (HU): mean HU of the lesion minus mean HU of its shell, the tissue voxels (organ,
  no tumour of any lesion, no vessel) whose signed distance to the lesion surface lies in
  ``(0, shell_mm]`` (5 mm; distances in mm through the spacing, see
  :func:`synthtumor.realism.edge.signed_distance_mm`). NaN when the shell is empty.
* Internal spread (HU): the population standard deviation (ddof = 0) of the lesion's HU.
* GLCM texture (``skimage.feature.graycomatrix`` / ``graycoprops``), on the lesion's bounding
  box: HU are clipped to a fixed window (default [-100, 300] HU) and quantised to ``levels``
  (32) equal bins, ``q = min(floor((HU - lo) / (hi - lo) x levels), levels - 1)``. Voxels
  outside the lesion get an extra sentinel level whose row and column are dropped, so only pairs
  of two lesion voxels count. Pairs at distance 1 pixel in 4 in-plane directions (0, 45, 90, 135
  degrees), symmetric, are pooled over every axial slice through the lesion (each slice adds its
  pairs: a slice is weighted by its size); contrast and homogeneity are computed per direction
  (``graycoprops`` normalises each matrix) and averaged over the directions that have pairs.
  Contrast is in squared grey levels (one level = (hi - lo) / levels HU); homogeneity in (0, 1].
  Pixel distances are in pixels, not mm: compare datasets of similar in-plane spacing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from skimage.feature import graycomatrix, graycoprops

from synthtumor.metrics._crop import bounding_box

__all__ = ["GLCM_ANGLES", "shell_contrast_hu", "internal_std_hu", "quantise_hu", "glcm_texture"]

GLCM_ANGLES: tuple[float, ...] = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4)


def shell_contrast_hu(
    image: np.ndarray, lesion: np.ndarray, tissue: np.ndarray, distance_mm: np.ndarray, shell_mm: float = 5.0
) -> float:
    """Mean lesion HU minus mean HU of tissue within ``shell_mm`` outside it (NaN: no shell)."""
    shell = tissue & ~lesion & (distance_mm > 0) & (distance_mm <= shell_mm)
    if not shell.any() or not lesion.any():
        return math.nan
    return float(image[lesion].astype(np.float64).mean() - image[shell].astype(np.float64).mean())


def internal_std_hu(image: np.ndarray, lesion: np.ndarray) -> float:
    """Population standard deviation (HU, ddof = 0) of the lesion's voxels (NaN when empty)."""
    values = image[lesion].astype(np.float64)
    return float(values.std()) if values.size else math.nan


def quantise_hu(image: np.ndarray, window_hu: Sequence[float], levels: int) -> np.ndarray:
    """Grey levels ``0..levels-1`` of HU clipped to ``window_hu`` (equal-width bins)."""
    lo, hi = float(window_hu[0]), float(window_hu[1])
    scaled = (np.clip(image.astype(np.float64), lo, hi) - lo) / (hi - lo) * levels
    return np.minimum(np.floor(scaled), levels - 1).astype(np.uint8)


def glcm_texture(
    image: np.ndarray, lesion: np.ndarray, *, window_hu: Sequence[float] = (-100.0, 300.0), levels: int = 32
) -> tuple[float, float]:
    """GLCM ``(contrast, homogeneity)`` of the lesion (see module docstring; NaN: no pair).

    Args:
        image: HU volume (X, Y, Z); axial slices are ``image[:, :, z]``.
        lesion: the lesion's mask, same shape.
        window_hu: HU window (lo, hi) before quantisation.
        levels: grey levels (2..255).
    """
    box = bounding_box(lesion)
    if box is None:
        return math.nan, math.nan
    grey = quantise_hu(image[box], window_hu, levels)
    grey[~lesion[box]] = levels  # sentinel: pairs touching it are dropped below
    pooled = np.zeros((levels + 1, levels + 1, 1, len(GLCM_ANGLES)), dtype=np.float64)
    for z in range(grey.shape[2]):
        pooled += graycomatrix(grey[:, :, z], [1], list(GLCM_ANGLES), levels=levels + 1, symmetric=True)
    matrix = pooled[:levels, :levels]
    has_pairs = matrix.sum(axis=(0, 1, 2)) > 0
    if not has_pairs.any():
        return math.nan, math.nan
    matrix = matrix[..., has_pairs]
    contrast = float(graycoprops(matrix, "contrast").mean())
    homogeneity = float(graycoprops(matrix, "homogeneity").mean())
    return contrast, homogeneity
