"""Hounsfield units per structure and contrast phase, and the image they make.

Each structure's HU for a case is drawn once, ``HU ~ U(m - s w, m + s w)`` with the tabulated
mean ``m`` and half-width ``w`` and ``s`` the config's ``intensity_spread``. Entries written
``("liver", offset, w)`` are relative to that case's liver value: ``HU = liver + offset +
U(-s w, s w)`` (so that, e.g., blood stays about 10 HU below liver in the native phase and
intrahepatic vessels stay 50+ HU above it in the portal phase).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from synthtumor.phantom.geometry import Grid, SmoothField
from synthtumor.phantom.labels import LABELS, SOFT_TISSUE

__all__ = ["PHASE_HU", "draw_tissue_hu", "base_image", "apply_psf"]

_COMMON = {
    "background": (-1000.0, 0.0), "skin": (40.0, 5.0), "subcutaneous_fat": (-100.0, 8.0),
    "body_fat": (-90.0, 8.0), "lung": (-850.0, 30.0), "vertebra": (250.0, 40.0),
    "vertebra_cortex": (700.0, 60.0), "intervertebral_disc": (80.0, 10.0),
    "spinal_canal": (20.0, 5.0), "ribs": (450.0, 60.0), "stomach": (15.0, 5.0),
    "stomach_air": (-1000.0, 0.0), "bowel": (15.0, 5.0), "colon": (0.0, 20.0),
    "colon_gas": (-1000.0, 0.0), "tumour": ("liver", -30.0, 5.0),
}

PHASE_HU: dict[str, dict[str, tuple]] = {
    "native": {
        "liver": (55.0, 5.0), "portal_vein": ("liver", -10.0, 4.0),
        "hepatic_veins": ("liver", -10.0, 4.0), "ivc": ("liver", -10.0, 4.0),
        "aorta": ("liver", -10.0, 4.0), "heart": ("liver", -12.0, 4.0),
        "spleen": (45.0, 4.0), "kidney_right": (32.0, 4.0), "kidney_left": (32.0, 4.0),
        "renal_medulla": (28.0, 4.0), "muscle": (50.0, 5.0), "stomach_wall": (40.0, 5.0),
        "bowel_wall": (40.0, 5.0),
    },
    "arterial": {
        "liver": (70.0, 6.0), "portal_vein": (130.0, 15.0), "hepatic_veins": ("liver", -5.0, 5.0),
        "ivc": (80.0, 10.0), "aorta": (300.0, 40.0), "heart": (260.0, 40.0),
        "spleen": (110.0, 12.0), "kidney_right": (180.0, 20.0), "kidney_left": (180.0, 20.0),
        "renal_medulla": (90.0, 15.0), "muscle": (55.0, 5.0), "stomach_wall": (90.0, 10.0),
        "bowel_wall": (95.0, 10.0),
    },
    "portal": {
        "liver": (105.0, 7.0), "portal_vein": ("liver", 74.0, 7.0),
        "hepatic_veins": ("liver", 64.0, 7.0), "ivc": (150.0, 12.0), "aorta": (165.0, 15.0),
        "heart": (160.0, 15.0), "spleen": (115.0, 8.0), "kidney_right": (160.0, 15.0),
        "kidney_left": (160.0, 15.0), "renal_medulla": (150.0, 15.0), "muscle": (60.0, 5.0),
        "stomach_wall": (85.0, 8.0), "bowel_wall": (90.0, 8.0),
    },
    "delayed": {
        "liver": (85.0, 6.0), "portal_vein": ("liver", 30.0, 6.0),
        "hepatic_veins": ("liver", 30.0, 6.0), "ivc": (115.0, 8.0), "aorta": (115.0, 10.0),
        "heart": (115.0, 10.0), "spleen": (90.0, 8.0), "kidney_right": (130.0, 12.0),
        "kidney_left": (130.0, 12.0), "renal_medulla": (140.0, 12.0), "muscle": (55.0, 5.0),
        "stomach_wall": (70.0, 8.0), "bowel_wall": (75.0, 8.0),
    },
}
"""Per phase: structure -> ``(mean HU, half-width HU)`` or ``("liver", offset HU, half-width HU)``."""

# texture amplitude per structure, as a multiple of the config's texture_hu
_TEXTURE_GAIN = {**{name: 1.0 for name in SOFT_TISSUE}, "vertebra": 6.0, "colon": 8.0,
                 "lung": 4.0, "body_fat": 0.7, "subcutaneous_fat": 0.7, "tumour": 0.0}


def draw_tissue_hu(phase: str, rng: np.random.Generator, spread: float = 1.0) -> dict[str, float]:
    """Draw this case's HU for every structure of ``phase`` (see the module docstring)."""
    table = {**_COMMON, **PHASE_HU[phase]}
    hu: dict[str, float] = {}
    liver_mean, liver_w = table["liver"]
    hu["liver"] = float(liver_mean + spread * liver_w * rng.uniform(-1, 1))
    for name in LABELS:
        if name == "liver":
            continue
        entry = table[name]
        if entry[0] == "liver":
            _, offset, width = entry
            hu[name] = float(hu["liver"] + offset + spread * width * rng.uniform(-1, 1))
        else:
            mean, width = entry
            hu[name] = float(mean + spread * width * rng.uniform(-1, 1))
    return hu


def base_image(grid: Grid, anatomy: np.ndarray, hu: dict[str, float], texture_hu: float,
               rng: np.random.Generator) -> np.ndarray:
    """Piecewise-constant HU by label plus a smooth parenchymal texture.

    The texture is a unit-variance smooth random field (6 mm features) times ``texture_hu``
    times a per-structure gain (1 for solid organs and muscle, more for bone marrow, stool and
    lung, less for fat, none for tumours).
    """
    lut = np.zeros(256, dtype=np.float32)
    gain = np.zeros(256, dtype=np.float32)
    for name, value in LABELS.items():
        lut[value] = hu[name]
        gain[value] = _TEXTURE_GAIN.get(name, 0.0) * texture_hu
    extent = np.asarray(grid.spacing) * np.asarray(grid.shape)
    lo = np.asarray(grid.origin) - 1.0
    field = SmoothField(rng, lo, lo + extent + 2.0, 6.0)
    image = lut[anatomy]
    if texture_hu > 0:
        image += gain[anatomy] * field.on_axes(*(grid.axis(i) for i in range(3)))
    return image


def apply_psf(image: np.ndarray, spacing: tuple[float, float, float], sigma_mm: float) -> np.ndarray:
    """Gaussian point-spread blur of ``sigma_mm`` (mm; per axis ``sigma_mm / spacing`` voxels)."""
    if sigma_mm <= 0:
        return image
    sigma = [sigma_mm / s for s in spacing]
    return ndi.gaussian_filter(image, sigma, truncate=3.0, mode="nearest")
