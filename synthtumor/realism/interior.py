"""A lesion's interior by depth: an enhancing rim, a necrotic core, or neither.

Depth is the Euclidean distance (mm, through the spacing) from a lesion voxel to the nearest
voxel outside the lesion, ``d``; ``d_max`` its largest value in the lesion and ``rel = d / d_max``.
The surface layer (lesion voxels with a face neighbour outside the lesion) belongs to no band: its
HU mixes with the surroundings' (the scan's blur, a mask drawn a little wide, a thick slice's
partial volume), which would make a plain hypodense lesion's periphery look like a rim. Three
bands of the other voxels, each summarised by the median HU of its voxels (robust to a calcified
speck):

=============  ==========================================  ==========================================
band           voxels                                      why
=============  ==========================================  ==========================================
periphery      ``d <= PERIPHERY_MM`` (3 mm)                where an enhancing rim or capsule lies
middle         ``d > PERIPHERY_MM`` and ``rel < CORE_REL``  viable tumour between rim and core
core           ``rel >= CORE_REL`` (0.55)                  where central necrosis lies
=============  ==========================================  ==========================================

Per lesion (NaN where a band holds fewer than ``MIN_BAND_VOXELS``, 10):

* ``rim_hu``: periphery minus middle (HU); an enhancing rim makes it positive; in a lesion too
  small for a middle band (``d_max`` under about 6.5 mm), periphery minus all voxels deeper than
  ``PERIPHERY_MM``;
* ``core_drop_hu``: middle minus core (HU); a necrotic core makes it positive;
* ``core_hu``: the core's median (absolute HU);
* ``viable_offset_hu``: the middle's median (in a lesion too small for one, that of the voxels
  deeper than ``PERIPHERY_MM``) minus the lesion's mean: what turns the lesion's mean contrast
  into its viable tissue's, without rim and necrotic core (NaN without such voxels);
* ``viable_std_hu``: the standard deviation of those same voxels (HU);
* ``rim_width_mm``: for a lesion called rim, how deep its rim reaches: the deepest edge of the
  0.5 mm depth bins, contiguous from the surface, whose median is at least half the brightest
  periphery bin's excess over the middle (NaN for a lesion without a rim);
* ``core_radius_fraction``: ``(n_dark / n)^(1/3)``, ``n_dark`` the voxels below the surface layer
  darker than the midpoint of the middle's and the core's medians, ``n`` all the lesion's voxels
  (the necrotic share of the radius, as a sphere's core); NaN unless ``core_drop_hu`` is defined.

Calcifications: a lesion voxel is calcified when its HU is at least ``CALCIFIED_HU`` (150 HU) above
the lesion's reference (the middle's median; where it has no middle, the median of all its voxels)
and at least ``CALCIFIED_MIN_HU`` (200 HU) absolute: above any enhancing rim or necrosis, below
the 300-1000 HU of a calcified focus once a voxel's partial volume has dimmed it. Calcified voxels
and their halo (the voxels at least ``CALCIFIED_HALO_HU``, 30 HU, above the reference that connect
to them: the scan's blur of the speck) count in no ``viable_std_hu`` (one speck of 500 HU would
multiply a viable tissue's std several times). A speck is a 26-connected part of calcified voxels:

* ``calcified_specks``: how many (0 for a lesion without);
* ``calcification_peak_hu``: the median over the specks of the brightest voxel's HU above the
  reference;
* ``calcification_sigma_mm``: the median over the specks of the Gaussian sigma whose
  half-maximum ball holds as much volume as the speck's voxels at or above half its peak
  excess: ``(3 V / (4 pi))^(1/3) / sqrt(2 ln 2)`` (mm; one 1.5 x 1.5 x 2 mm voxel gives 0.87).

A lesion is called ``rim`` when ``rim_hu >= RIM_HU`` (10 HU) and ``necrotic`` when
``core_drop_hu >= NECROSIS_HU`` (10 HU): thresholds above what a smooth texture of a few HU
gives (and the blur, once the surface layer is left out), well below the 20-60 HU of enhancing rims and
necrosis on portal-venous CT.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

__all__ = ["PERIPHERY_MM", "CORE_REL", "MIN_BAND_VOXELS", "RIM_HU", "NECROSIS_HU", "CALCIFIED_HU",
           "CALCIFIED_MIN_HU", "INTERIOR_KEYS",
           "interior_profile", "is_rim", "is_necrotic", "is_plain"]

PERIPHERY_MM = 3.0
CORE_REL = 0.55
MIN_BAND_VOXELS = 10
RIM_HU = 10.0
NECROSIS_HU = 10.0
CALCIFIED_HU = 150.0
CALCIFIED_MIN_HU = 200.0
CALCIFIED_HALO_HU = 30.0
INTERIOR_KEYS = ("rim_hu", "rim_width_mm", "core_drop_hu", "core_hu", "core_radius_fraction", "viable_offset_hu",
                 "viable_std_hu", "calcified_specks", "calcification_peak_hu", "calcification_sigma_mm")
#: Depth bin (mm) of the rim width and the fewest voxels a bin needs.
_BIN_MM = 0.5
_MIN_BIN_VOXELS = 5


def interior_profile(image: np.ndarray, lesion: np.ndarray, spacing) -> dict[str, float]:
    """The keys of :data:`INTERIOR_KEYS` for one lesion (see module docstring).

    Args:
        image: HU crop holding the lesion.
        lesion: its mask on the crop (need not touch the crop's border: depth counts the crop's
            border as outside).
        spacing: voxel size per axis (mm).
    """
    lesion = np.asarray(lesion, dtype=bool)
    out = dict.fromkeys(INTERIOR_KEYS, math.nan)
    if not lesion.any():
        return out
    padded = np.pad(lesion, 1)
    depth = ndi.distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1, 1:-1]
    below_surface = ndi.binary_erosion(padded)[1:-1, 1:-1, 1:-1]
    d = depth[lesion]
    image = np.asarray(image, dtype=np.float64)
    hu = image[lesion]
    rel = d / float(d.max())
    lesion_mean = float(hu.mean())
    inside = below_surface[lesion]  # the surface layer's partial volume with the surroundings counts in no band
    all_median = float(np.median(hu))
    d, hu, rel = d[inside], hu[inside], rel[inside]
    bands = {"periphery": d <= PERIPHERY_MM, "middle": (d > PERIPHERY_MM) & (rel < CORE_REL), "core": rel >= CORE_REL}
    med = {k: float(np.median(hu[m])) if int(m.sum()) >= MIN_BAND_VOXELS else math.nan for k, m in bands.items()}
    inner = med["middle"]
    viable = bands["middle"]
    if not math.isfinite(inner) and int((d > PERIPHERY_MM).sum()) >= MIN_BAND_VOXELS:
        viable = d > PERIPHERY_MM
        inner = float(np.median(hu[viable]))
    calcified = _calcification(image, lesion, inner if math.isfinite(inner) else all_median, spacing, out)
    if math.isfinite(inner):
        plain = viable & ~calcified[lesion][inside]
        out["viable_std_hu"] = float(hu[plain].std()) if plain.any() else math.nan
    out["rim_hu"] = med["periphery"] - inner
    out["viable_offset_hu"] = inner - lesion_mean
    if out["rim_hu"] >= RIM_HU:
        out["rim_width_mm"] = _rim_width(d, hu, inner)
    out["core_drop_hu"] = med["middle"] - med["core"]
    out["core_hu"] = med["core"]
    if math.isfinite(out["core_drop_hu"]):
        dark = int(np.count_nonzero(hu < 0.5 * (med["middle"] + med["core"])))
        out["core_radius_fraction"] = (dark / lesion.sum()) ** (1.0 / 3.0)
    return out


def _calcification(image: np.ndarray, lesion: np.ndarray, reference: float, spacing, out: dict) -> np.ndarray:
    """Fill the calcification keys of ``out`` (module docstring); return the calcified voxels and their halo."""
    calcified = lesion & (image >= max(reference + CALCIFIED_HU, CALCIFIED_MIN_HU))
    out["calcified_specks"] = 0.0
    if not calcified.any():
        return calcified
    labels, n = ndi.label(calcified, structure=np.ones((3, 3, 3), bool))
    voxel_mm3 = float(np.prod(np.asarray(spacing, dtype=float)))
    peaks, sigmas = [], []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        excess = image[box][labels[box] == index] - reference
        peak = float(excess.max())
        half_volume = np.count_nonzero(excess >= 0.5 * peak) * voxel_mm3
        peaks.append(peak)
        sigmas.append((3.0 * half_volume / (4.0 * math.pi)) ** (1.0 / 3.0) / math.sqrt(2.0 * math.log(2.0)))
    out["calcified_specks"] = float(n)
    out["calcification_peak_hu"] = float(np.median(peaks))
    out["calcification_sigma_mm"] = float(np.median(sigmas))
    halo, _ = ndi.label(lesion & (image >= reference + CALCIFIED_HALO_HU), structure=np.ones((3, 3, 3), bool))
    touched = np.unique(halo[calcified])
    return np.isin(halo, touched[touched > 0])


def _rim_width(d: np.ndarray, hu: np.ndarray, inner: float) -> float:
    """The rim's reach (mm; module docstring)."""
    edges = np.arange(0.0, 2 * PERIPHERY_MM + _BIN_MM, _BIN_MM)
    excess = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (d > lo) & (d <= hi)
        excess.append((hi, float(np.median(hu[m])) - inner if int(m.sum()) >= _MIN_BIN_VOXELS else None))
    peak = max((e for hi, e in excess if e is not None and hi <= PERIPHERY_MM), default=None)
    if peak is None or peak <= 0:
        return math.nan
    width = math.nan
    for hi, e in excess:
        if e is None:
            continue
        if e < 0.5 * peak:
            break
        width = hi
    return width


def is_rim(row) -> bool:
    """The lesion's periphery is at least :data:`RIM_HU` brighter than its middle."""
    value = row.get("rim_hu", math.nan)
    return bool(math.isfinite(value) and value >= RIM_HU)


def is_necrotic(row) -> bool:
    """The lesion's core is at least :data:`NECROSIS_HU` darker than its middle."""
    value = row.get("core_drop_hu", math.nan)
    return bool(math.isfinite(value) and value >= NECROSIS_HU)


def is_plain(row) -> bool:
    """Neither rim nor necrotic core (:func:`is_rim`, :func:`is_necrotic`)."""
    return not is_rim(row) and not is_necrotic(row)
