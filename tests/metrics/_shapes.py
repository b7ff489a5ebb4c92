"""Shared synthetic masks for the metric tests (small, so the whole suite stays fast)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import ndimage as ndi

ANISO = (0.8, 0.8, 2.5)


def grid_mm(shape, spacing, centre=None):
    """Voxel-centre coordinates (mm) relative to ``centre`` (default the grid centre), sparse."""
    centre = [(n - 1) / 2 * d for n, d in zip(shape, spacing)] if centre is None else centre
    return np.meshgrid(*[np.arange(n) * d - c for n, d, c in zip(shape, spacing, centre)], indexing="ij", sparse=True)


def ball(shape, spacing, radius_mm, centre=None):
    """A ball of ``radius_mm`` (mm) on an anisotropic grid."""
    x, y, z = grid_mm(shape, spacing, centre)
    return x**2 + y**2 + z**2 <= radius_mm**2


def blob(seed, shape=(40, 36, 14), sigma=3.0, level=0.3):
    """A random smooth blob (thresholded smoothed noise)."""
    field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)
    return field > level * field.std()


def as_tensor(mask):
    """(1, 1, X, Y, Z) float tensor, as MONAI's metric functions take."""
    return torch.from_numpy(np.asarray(mask, dtype=np.float32)[None, None])


def monai_quiet(fn, *args, **kwargs):
    """Call a MONAI metric with its empty-mask and deprecation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(*args, **kwargs).reshape(-1)[0])
