"""Analytic test volumes for the realism tests: balls, ellipsoids, blurred edges, in HU."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

BACKGROUND_HU = 100.0


def grid_mm(radius_mm, spacing, margin_mm=9.0):
    """Voxel-centre coordinates (mm) of a grid centred on 0 that holds a ball of ``radius_mm``."""
    shape = [int(np.ceil(2 * (radius_mm + margin_mm) / s)) | 1 for s in spacing]
    return np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing)], indexing="ij")


def ball_scene(radius_mm, spacing=(1.0, 1.0, 1.0), contrast_hu=-50.0, blur_mm=0.0, noise_hu=0.0, seed=0,
               margin_mm=9.0):
    """(image HU, ball mask, spacing): a ball of ``contrast_hu`` in a 100 HU surrounding.

    With ``blur_mm`` the edge is a Gaussian blur (sigma in mm) of the ball's indicator, so an
    ideal 10-90 % rise is ``2.563 * blur_mm``.
    """
    spacing = np.asarray(spacing, dtype=float)
    x, y, z = grid_mm(radius_mm, spacing, margin_mm)
    mask = x**2 + y**2 + z**2 <= radius_mm**2
    indicator = mask.astype(np.float64)
    if blur_mm:
        indicator = ndi.gaussian_filter(indicator, blur_mm / spacing)
    image = BACKGROUND_HU + contrast_hu * indicator
    if noise_hu:
        image = image + np.random.default_rng(seed).normal(0.0, noise_hu, mask.shape)
    return image.astype(np.float32), mask, tuple(float(s) for s in spacing)


def ellipsoid_mask(radii_mm, spacing=(1.0, 1.0, 1.0)):
    """A boolean ellipsoid with semi-axes ``radii_mm`` (mm)."""
    x, y, z = grid_mm(max(radii_mm), spacing, 3.0)
    return (x / radii_mm[0]) ** 2 + (y / radii_mm[1]) ** 2 + (z / radii_mm[2]) ** 2 <= 1.0


def big_tumour_case():
    """A blob liver (radii 55 x 45 x 45 mm) whose centre holds a 30 mm hypo-attenuating tumour."""
    from tests.conftest import blob_case

    case = blob_case(seed=3)
    x, y, z = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(case.shape, case.spacing)],
                          indexing="ij")
    tumour = (x**2 + y**2 + z**2 <= 30.0**2) & case.organ & ~case.vessels
    image = case.image.copy()
    image[tumour] -= 50.0
    return case.replace(image=image, tumor=tumour, case_id="big")
