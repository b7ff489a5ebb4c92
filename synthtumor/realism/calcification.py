"""A lesion's calcified specks: how many, how bright, how large, and which voxels they brighten.

The reference ``R`` is the lesion's viable HU (its middle band's median; where it has none, the
median of its voxels; :mod:`synthtumor.realism.interior`). A voxel is **calcified** when it lies
below the lesion's surface layer (a mask drawn a voxel into a vessel, a rib or the aorta takes
their HU at its surface), is not an ``exclude`` voxel (labelled vessels) and reads at least
``CALCIFIED_MIN_HU`` (200 HU) absolute and ``CALCIFIED_HU`` (150 HU) above ``R``: above any
enhancing rim or necrosis, below the 300-1000 HU of a calcified focus once a voxel's partial
volume has dimmed it; and at least ``NOISE_SIGMAS`` (5) times the tissue's robust spread above
``R`` (``1.4826 x`` the median absolute deviation of the voxels ``R`` is the median of), so that
the bright tail of a noisy or heterogeneous lesion (a 40 HU noise on a thin low-dose slice, a
large lesion's 50 HU texture) is not taken for specks. Where ``R`` itself reaches 200 HU (a
lesion dense throughout), every voxel from 200 HU on is calcified, and only the count and the
fraction are measured (no viable tissue to take a speck's peak or size against). Post-TACE
lipiodol reads the same and is counted as calcium.

A **speck** is a 26-connected part of calcified voxels. Per lesion (:data:`CALCIFICATION_KEYS`):

* ``calcified_specks``: how many (0 for a lesion without);
* ``calcified_fraction``: calcified voxels over the lesion's voxels;
* ``calcification_peak_hu``: the median over the specks of the brightest voxel's HU above ``R``;
* ``calcification_sigma_mm``: the median over the specks of the Gaussian sigma whose half-maximum
  ball holds as much volume as the lesion voxels at or above half the speck's peak excess that
  connect to its peak: ``(3 V / (4 pi))^(1/3) / sqrt(2 ln 2)`` (mm; one 1.5 x 1.5 x 2 mm voxel
  gives 0.87; a ball, so on thick slices a speck reads larger than it is).

The **halo** is what the scan's blur (or a rendered speck's Gaussian tail) spreads around a
speck: lesion voxels at least ``CALCIFIED_HALO_HU`` (30 HU) above ``R`` that connect to a speck
and lie within twice the speck sigma (at least ``HALO_MIN_MM``, 2 mm) of a calcified voxel, so
that on a noisy scan the bright half of the noise is not taken with it. Calcified voxels and halo
count in no viable std.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

__all__ = ["CALCIFIED_HU", "NOISE_SIGMAS", "CALCIFIED_MIN_HU", "CALCIFIED_HALO_HU", "HALO_MIN_MM", "CALCIFICATION_KEYS",
           "MAX_CALCIFIED_FRACTION", "measure_calcification", "is_calcified", "is_calcified_mass"]

CALCIFIED_HU = 150.0
NOISE_SIGMAS = 5.0
CALCIFIED_MIN_HU = 200.0
CALCIFIED_HALO_HU = 30.0
#: A lesion with more of its voxels calcified than this is not a lesion holding specks but a
#: calcified mass (or lipiodol after TACE): it counts in the calcified share, in no other law.
MAX_CALCIFIED_FRACTION = 0.3
HALO_MIN_MM = 2.0
CALCIFICATION_KEYS = ("calcified_specks", "calcified_fraction", "calcification_peak_hu", "calcification_sigma_mm")
_FULL = np.ones((3, 3, 3), bool)
#: How far (mm) beyond a speck's calcified voxels its half-maximum part is looked for.
_HALF_MAX_REACH_MM = 4.0


def is_calcified(row) -> bool:
    """The lesion holds at least one calcified speck (``calcified_specks``; False where unmeasured)."""
    value = row.get("calcified_specks", math.nan)
    return bool(math.isfinite(value) and value >= 1)


def is_calcified_mass(row) -> bool:
    """More than :data:`MAX_CALCIFIED_FRACTION` of the lesion is calcified (False where unmeasured)."""
    value = row.get("calcified_fraction", math.nan)
    return bool(math.isfinite(value) and value > MAX_CALCIFIED_FRACTION)


def _half_max_volume_mm3(image: np.ndarray, lesion: np.ndarray, box: tuple[slice, ...], peak_at: tuple[int, ...],
                         level: float, spacing: np.ndarray) -> float:
    """Volume (mm^3) of the lesion voxels at or above ``level`` (HU) that connect to ``peak_at``."""
    grow = np.ceil(_HALF_MAX_REACH_MM / spacing).astype(int)
    near = tuple(slice(max(s.start - g, 0), min(s.stop + g, n)) for s, g, n in zip(box, grow, image.shape))
    labels, _ = ndi.label(lesion[near] & (image[near] >= level), structure=_FULL)
    own = labels[tuple(p - s.start for p, s in zip(peak_at, near))]
    return float(np.count_nonzero(labels == own)) * float(np.prod(spacing))


def measure_calcification(image: np.ndarray, lesion: np.ndarray, below_surface: np.ndarray, reference: float,
                          spread_hu: float, spacing, exclude: np.ndarray | None = None
                          ) -> tuple[dict[str, float], np.ndarray]:
    """The keys of :data:`CALCIFICATION_KEYS` and the calcified voxels with their halo (module docstring).

    Args:
        image: HU crop holding the lesion (float).
        lesion: its mask on the crop.
        below_surface: lesion voxels without a face neighbour outside it.
        reference: the lesion's viable HU ``R``.
        spread_hu: the robust spread (HU) of the voxels ``R`` is the median of.
        spacing: voxel size per axis (mm).
        exclude: voxels never called calcified (labelled vessels), or None.
    """
    sp = np.asarray(spacing, dtype=float)
    dense = reference >= CALCIFIED_MIN_HU
    above = max(CALCIFIED_HU, NOISE_SIGMAS * spread_hu)
    calcified = below_surface & (image >= (CALCIFIED_MIN_HU if dense else max(reference + above, CALCIFIED_MIN_HU)))
    if exclude is not None:
        calcified &= ~exclude
    out = {"calcified_specks": 0.0, "calcified_fraction": 0.0, "calcification_peak_hu": math.nan,
           "calcification_sigma_mm": math.nan}
    if not calcified.any():
        return out, calcified
    labels, n = ndi.label(calcified, structure=_FULL)
    out.update(calcified_specks=float(n), calcified_fraction=float(calcified.sum() / lesion.sum()))
    if dense:  # no viable tissue to measure specks against: share and fraction only
        return out, calcified
    peaks, sigmas = [], []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        values = np.where(labels[box] == index, image[box], -np.inf)
        at = np.unravel_index(int(np.argmax(values)), values.shape)
        peak = float(values[at]) - reference
        peak_at = tuple(int(a + s.start) for a, s in zip(at, box))
        volume = _half_max_volume_mm3(image, lesion, box, peak_at, reference + 0.5 * peak, sp)
        peaks.append(peak)
        sigmas.append((3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0) / math.sqrt(2.0 * math.log(2.0)))
    out.update(calcification_peak_hu=float(np.median(peaks)), calcification_sigma_mm=float(np.median(sigmas)))
    reach = max(2.0 * out["calcification_sigma_mm"], HALO_MIN_MM)
    near = ndi.distance_transform_edt(~calcified, sampling=sp) <= reach
    halo, _ = ndi.label(lesion & near & (image >= reference + CALCIFIED_HALO_HU), structure=_FULL)
    touched = np.unique(halo[calcified])
    return out, calcified | np.isin(halo, touched[touched > 0])
