"""Mass effect: a growing lesion pushes the surrounding parenchyma and vessels outward.

Inside a ball of radius ``R_z = ZONE_FACTOR * extent`` around the lesion centre, the output voxel
at radius ``r`` takes the tissue found at radius ``h(r) = r (1 - delta (1 - (r / R_z)^2)^2)``
(``delta`` = the spec's ``mass_effect``), so tissue moves outward by ``r - h(r)``, most near the
lesion and none at ``R_z``. ``h'(r) = 1 - delta (1 - q)(1 - 5 q)``, ``q = (r / R_z)^2``, is at least
``1 - delta > 0``: the map is monotone and never folds. The image is resampled linearly, masks
by nearest neighbour, so labels move with the tissue; voxels at ``r >= R_z`` are not touched.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["ZONE_FACTOR", "radial_source_offsets", "displace"]

#: The mass-effect zone's radius as a multiple of the lesion's maximum extent.
ZONE_FACTOR = 1.5


def radial_source_offsets(offset_mm: np.ndarray, zone_mm: float, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each output voxel takes its tissue from, as world offsets from the centre (mm).

    Returns:
        The (3, ...) source offsets and the boolean mask of voxels inside the zone.
    """
    r2 = (offset_mm * offset_mm).sum(axis=0)
    inside = r2 < zone_mm * zone_mm
    q = np.minimum(r2 / np.float32(zone_mm * zone_mm), 1.0)
    scale = 1.0 - np.float32(strength) * (1.0 - q) ** 2
    return offset_mm * scale, inside


def displace(
    volumes: dict[str, np.ndarray],
    offset_mm: np.ndarray,
    centre_mm: np.ndarray,
    affine: np.ndarray,
    box: tuple[slice, ...],
    zone_mm: float,
    strength: float,
) -> None:
    """Push tissue outward in place, for every volume given (image linear, masks nearest).

    Args:
        volumes: full-size arrays, changed in place within ``box`` (float arrays are resampled
            linearly, boolean ones by nearest neighbour).
        offset_mm: (3, ...) world offsets of the box voxels from ``centre_mm``.
        centre_mm: lesion centre (world RAS, mm).
        affine: voxel-to-world affine.
        box: the voxel box ``offset_mm`` covers.
        zone_mm: zone radius (mm).
        strength: ``delta`` in [0, 1).
    """
    source, inside = radial_source_offsets(offset_mm, zone_mm, strength)
    if not inside.any():
        return
    inv = np.linalg.inv(affine)
    world = source[:, inside] + np.asarray(centre_mm, dtype=np.float32)[:, None]
    coords = inv[:3, :3] @ world + inv[:3, 3:4]
    origin = np.array([s.start for s in box], dtype=np.float64)[:, None]
    local = coords - origin  # coordinates within the box
    nearest = None
    for volume in volumes.values():
        region = volume[box]
        if region.dtype == bool:
            if nearest is None:
                limits = np.array(region.shape)[:, None] - 1
                nearest = tuple(np.clip(np.rint(local), 0, limits).astype(np.intp))
            sampled = region[nearest]
        else:
            sampled = ndi.map_coordinates(region, local, order=1, mode="nearest").astype(region.dtype)
        region[inside] = sampled
