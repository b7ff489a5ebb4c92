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

Calcified specks (:mod:`synthtumor.realism.calcification`, ``calcified_specks``,
``calcified_fraction``, ``calcification_peak_hu``, ``calcification_sigma_mm``) are measured
against the middle's median and spread (those of all voxels where there is no middle); their
voxels and halo count in no ``viable_std_hu``.

A lesion is called ``rim`` when ``rim_hu >= RIM_HU`` (10 HU) and ``necrotic`` when
``core_drop_hu >= NECROSIS_HU`` (10 HU): thresholds above what a smooth texture of a few HU
gives (and the blur, once the surface layer is left out), well below the 20-60 HU of enhancing rims and
necrosis on portal-venous CT.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from synthtumor.realism.calcification import CALCIFICATION_KEYS, measure_calcification

__all__ = ["PERIPHERY_MM", "CORE_REL", "MIN_BAND_VOXELS", "RIM_HU", "NECROSIS_HU", "INTERIOR_KEYS",
           "interior_profile", "is_rim", "is_necrotic", "is_plain"]

PERIPHERY_MM = 3.0
CORE_REL = 0.55
MIN_BAND_VOXELS = 10
RIM_HU = 10.0
NECROSIS_HU = 10.0
INTERIOR_KEYS = ("rim_hu", "rim_width_mm", "core_drop_hu", "core_hu", "core_radius_fraction", "viable_offset_hu",
                 "viable_std_hu", *CALCIFICATION_KEYS)
#: Depth bin (mm) of the rim width and the fewest voxels a bin needs.
_BIN_MM = 0.5
_MIN_BIN_VOXELS = 5


def interior_profile(image: np.ndarray, lesion: np.ndarray, spacing,
                     exclude: np.ndarray | None = None) -> dict[str, float]:
    """The keys of :data:`INTERIOR_KEYS` for one lesion (see module docstring).

    Args:
        image: HU crop holding the lesion.
        lesion: its mask on the crop (need not touch the crop's border: depth counts the crop's
            border as outside).
        spacing: voxel size per axis (mm).
        exclude: voxels of the crop never called calcified (labelled vessels), or None.
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
    d, hu, rel = d[inside], hu[inside], rel[inside]
    bands = {"periphery": d <= PERIPHERY_MM, "middle": (d > PERIPHERY_MM) & (rel < CORE_REL), "core": rel >= CORE_REL}
    med = {k: float(np.median(hu[m])) if int(m.sum()) >= MIN_BAND_VOXELS else math.nan for k, m in bands.items()}
    inner = med["middle"]
    viable = bands["middle"]
    if not math.isfinite(inner) and int((d > PERIPHERY_MM).sum()) >= MIN_BAND_VOXELS:
        viable = d > PERIPHERY_MM
        inner = float(np.median(hu[viable]))
    pool = hu[viable] if math.isfinite(inner) else image[lesion]
    reference = float(np.median(pool))
    spread = 1.4826 * float(np.median(np.abs(pool - reference)))
    calcification, calcified = measure_calcification(image, lesion, below_surface, reference, spread, spacing,
                                                     exclude)
    out.update(calcification)
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
