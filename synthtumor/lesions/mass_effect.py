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

from synthtumor.lesions.shape import voxel_offsets

__all__ = ["ZONE_FACTOR", "displace", "source_scale"]

#: The mass-effect zone's radius as a multiple of the lesion's maximum extent.
ZONE_FACTOR = 1.5


def source_scale(r2_mm2: np.ndarray, zone_mm: float, strength: float) -> np.ndarray:
    """``h(r) / r = 1 - delta (1 - (r / R_z)^2)^2`` for squared radii ``r2_mm2`` (mm^2) in the zone."""
    q = np.minimum(r2_mm2 * np.float32(1.0 / (zone_mm * zone_mm)), np.float32(1.0))
    one_minus = np.float32(1.0) - q
    return np.float32(1.0) - np.float32(strength) * one_minus * one_minus


def _squared_radius(d: list[np.ndarray], affine: np.ndarray) -> np.ndarray:
    """``|A d|^2`` (mm^2) on the box from broadcastable per-axis voxel offsets ``d``."""
    metric = affine[:3, :3].T @ affine[:3, :3]
    r2 = sum(np.float32(metric[v, v]) * d[v] * d[v] for v in range(3))
    for a, b in ((0, 1), (0, 2), (1, 2)):
        if abs(metric[a, b]) > 1e-9 * metric.max():  # oblique axes only
            r2 = r2 + np.float32(2.0 * metric[a, b]) * d[a] * d[b]
    return np.broadcast_to(r2, tuple(d[v].shape[v] for v in range(3)))


def displace(
    volumes: dict[str, np.ndarray],
    centre_mm: np.ndarray,
    affine: np.ndarray,
    box: tuple[slice, ...],
    zone_mm: float,
    strength: float,
) -> None:
    """Push tissue outward in place, for every volume given (image linear, masks nearest).

    As the affine is linear, the source of voxel ``v`` is ``c + s (v - c)`` in voxel
    coordinates (``c`` the centre's, ``s = h(r) / r``), which lies between the centre and ``v``
    and so inside the box. Float volumes are interpolated trilinearly and boolean ones by
    nearest neighbour, both by flat-index gathers on a contiguous copy of the box (the boolean
    volumes packed as bits of one byte, gathered once).

    Args:
        volumes: full-size arrays, changed in place within the zone (float or boolean).
        centre_mm: lesion centre (world RAS, mm).
        affine: voxel-to-world affine.
        box: a voxel box holding the zone (voxels outside the box are not moved).
        zone_mm: zone radius (mm).
        strength: ``delta`` in [0, 1).
    """
    d = voxel_offsets(centre_mm, affine, box)
    shape = tuple(s.stop - s.start for s in box)
    r2 = _squared_radius(d, affine)
    index = np.nonzero(r2 < np.float32(zone_mm * zone_mm))
    if index[0].size == 0:
        return
    strides = (shape[1] * shape[2], shape[2], 1)
    inside = index[0] * strides[0] + index[1] * strides[1] + index[2]
    scale = source_scale(r2.ravel()[inside], zone_mm, strength)
    # source = c + s (v - c) per axis, then its lower corner (truncation is floor here, as
    # source >= 0; the last voxel's corner moves down one with weight 1) and the weights
    lower, weight, step = [], [], []
    for v in range(3):
        c = np.float32(-d[v].ravel()[0])  # the centre's coordinate within the box
        source = index[v].astype(np.float32)
        source -= c
        source *= scale
        source += c
        i0 = source.astype(np.intp)
        np.minimum(i0, max(shape[v] - 2, 0), out=i0)
        source -= i0
        lower.append(i0)
        weight.append(source)
        step.append(strides[v] if shape[v] > 1 else 0)
    base = lower[0] * strides[0]
    base += lower[1] * strides[1]
    base += lower[2]

    for name, volume in volumes.items():
        if volume.dtype == bool:
            continue
        region = np.ascontiguousarray(volume[box])
        flat = region.ravel()
        corner = [np.take(flat[i * step[0] + j * step[1] + k * step[2]:], base)
                  for i in (0, 1) for j in (0, 1) for k in (0, 1)]
        wx, wy, wz = weight
        c00 = corner[0] + wz * (corner[1] - corner[0])
        c01 = corner[2] + wz * (corner[3] - corner[2])
        c10 = corner[4] + wz * (corner[5] - corner[4])
        c11 = corner[6] + wz * (corner[7] - corner[6])
        c0 = c00 + wy * (c01 - c00)
        c1 = c10 + wy * (c11 - c10)
        flat[inside] = (c0 + wx * (c1 - c0)).astype(region.dtype, copy=False)
        volume[box] = region

    masks = [name for name, volume in volumes.items() if volume.dtype == bool]
    if not masks:
        return
    nearest = base
    for v in range(3):
        nearest += (weight[v] >= np.float32(0.5)) * step[v]
    for group in range(0, len(masks), 8):  # eight masks as the bits of one byte, gathered once
        names = masks[group:group + 8]
        packed = np.zeros(shape, dtype=np.uint8)
        for bit, name in enumerate(names):
            packed |= volumes[name][box].view(np.uint8) << bit
        moved = np.take(packed.ravel(), nearest)
        for bit, name in enumerate(names):
            region = np.ascontiguousarray(volumes[name][box])
            region.ravel()[inside] = (moved >> bit) & 1
            volumes[name][box] = region
