"""Spatially correlated CT noise.

Reconstructed CT noise is not white: filtered back-projection gives it a band-pass noise power
spectrum (no power at zero frequency, a peak at mid frequencies, little at the highest). We
approximate it with a difference of Gaussians of white noise: ``n = G(s1) * w - G(s2) * w``
with ``s1`` the grain (low-pass) and ``s2 > s1`` the wide Gaussian whose subtraction removes the
lowest frequencies, both in mm (so the grain is the same physical size at any spacing), then
scale ``n`` to the requested standard deviation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["correlated_noise"]


def correlated_noise(shape: tuple[int, int, int], spacing: tuple[float, float, float], sigma_hu: float,
                     rng: np.random.Generator, grain_mm: float = 0.9, cutoff_mm: float = 4.0) -> np.ndarray:
    """Band-pass filtered Gaussian noise with standard deviation ``sigma_hu``.

    Args:
        shape: volume shape in voxels.
        spacing: voxel size (mm) along each axis.
        sigma_hu: standard deviation of the result in HU (the caller draws ``sigma ~ U(a, b)``).
        rng: random generator (draws the white noise ``w ~ N(0, 1)`` per voxel).
        grain_mm: low-pass Gaussian sigma in mm.
        cutoff_mm: wide Gaussian sigma in mm subtracted from the low-passed field; 0 disables.

    Returns:
        float32 array of ``shape``, mean ~ 0, standard deviation exactly ``sigma_hu``.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    if sigma_hu <= 0:
        return np.zeros(shape, dtype=np.float32)
    fine = ndi.gaussian_filter(white, [grain_mm / s for s in spacing], truncate=3.0, mode="wrap")
    if cutoff_mm > 0:
        coarse = ndi.gaussian_filter(white, [cutoff_mm / s for s in spacing], truncate=3.0, mode="wrap")
        fine -= coarse
    std = float(fine.std(dtype=np.float64))
    if std > 0:
        fine *= np.float32(sigma_hu / std)
    return fine
