"""Mass effect: a growing lesion pushes the surrounding parenchyma and vessels outward.

Inside a ball of radius ``R_z = ZONE_FACTOR * extent`` around the lesion centre, the output voxel
at radius ``r`` takes the tissue found at radius ``h(r) = r (1 - delta (1 - (r / R_z)^2)^2)``
(``delta`` = the spec's ``mass_effect``), so tissue moves outward by ``r - h(r)``, most near the
lesion and none at ``R_z``. ``h'(r) = 1 - delta (1 - q)(1 - 5 q)``, ``q = (r / R_z)^2``, is at least
``1 - delta > 0``: the map is monotone and never folds. Voxels at ``r >= R_z`` are not touched.

Every volume, the image included, is resampled by nearest neighbour: each output voxel is one
input voxel, so the tissue keeps its own noise (linear interpolation smooths CT-like noise by
5-15 % in std, white noise by up to 45 %: a quiet halo around the lesion that a realism
classifier can find) and each label moves with exactly the voxels it labels. The cost is a
stair of at most half a voxel on displaced edges.
"""

from __future__ import annotations

import numpy as np

from synthtumor.lesions.voxel_grid import ball_box, voxel_grid, voxel_offsets

__all__ = ["ZONE_FACTOR", "displace", "moving_radius", "source_scale"]

#: The mass-effect zone's radius as a multiple of the lesion's maximum extent.
ZONE_FACTOR = 1.5


def moving_radius(zone_mm: float, strength: float, affine: np.ndarray) -> float:
    """The radius (mm) beyond which no voxel changes: 0 when none does.

    A voxel at distance ``r`` moves by ``u(r) = r delta (1 - (r / R_z)^2)^2`` mm, at most
    ``u(r) |row_v(A^-1)|`` voxels along voxel axis ``v``; while that stays below 0.45 voxel
    (0.5 less a margin for float32 rounding) its nearest source is itself. ``u`` rises to its
    maximum at ``R_z / sqrt 5`` and falls to 0 at ``R_z``; the outer root of
    ``u(r) = 0.45 / max_v |row_v(A^-1)|`` is found by bisection.
    """
    tolerance = 0.45 / float(voxel_grid(affine).row_norms.max())

    def moved(r: float) -> float:
        return r * strength * (1.0 - (r / zone_mm) ** 2) ** 2

    lo, hi = zone_mm / np.sqrt(5.0), zone_mm
    if moved(lo) <= tolerance:
        return 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if moved(mid) > tolerance else (lo, mid)
    return float(hi)


def source_scale(r2_mm2: np.ndarray, zone_mm: float, strength: float) -> np.ndarray:
    """``h(r) / r = 1 - delta (1 - (r / R_z)^2)^2`` for squared radii ``r2_mm2`` (mm^2) in the zone."""
    return _scale_in_place(np.array(r2_mm2, dtype=np.float32), zone_mm, strength)


def _scale_in_place(r2: np.ndarray, zone_mm: float, strength: float) -> np.ndarray:
    """:func:`source_scale`, overwriting the float32 array ``r2`` (no temporaries)."""
    r2 *= np.float32(1.0 / (zone_mm * zone_mm))
    np.minimum(r2, np.float32(1.0), out=r2)
    np.subtract(np.float32(1.0), r2, out=r2)
    np.square(r2, out=r2)
    r2 *= np.float32(-strength)
    r2 += np.float32(1.0)
    return r2


def _squared_radius(d: list[np.ndarray], affine: np.ndarray) -> np.ndarray:
    """``|A d|^2`` (mm^2) on the box from broadcastable per-axis voxel offsets ``d`` (a new array)."""
    metric = affine[:3, :3].T @ affine[:3, :3]
    plane = np.float32(metric[0, 0]) * (d[0] * d[0]) + np.float32(metric[1, 1]) * (d[1] * d[1])
    r2 = plane + np.float32(metric[2, 2]) * (d[2] * d[2])
    for a, b in ((0, 1), (0, 2), (1, 2)):
        if abs(metric[a, b]) > 1e-9 * metric.max():  # oblique axes only
            r2 += np.float32(2.0 * metric[a, b]) * d[a] * d[b]
    return r2


def displace(
    volumes: dict[str, np.ndarray],
    centre_mm: np.ndarray,
    affine: np.ndarray,
    box: tuple[slice, ...],
    zone_mm: float,
    strength: float,
) -> None:
    """Push tissue outward in place, for every volume given (nearest neighbour, see above).

    As the affine is linear, the source of voxel ``v`` is ``c + s (v - c)`` in voxel
    coordinates (``c`` the centre's, ``s = h(r) / r``, exactly 1 outside the zone), a convex
    combination of ``c`` and ``v`` and so inside the box when the centre is (where a crop or the
    volume's edge cuts the zone off the centre, sources past the edge take the edge voxel).
    Sources are rounded once, as a flat index into the box (float32 arithmetic, exact for boxes
    under 2^24 voxels; float64 above), and every
    volume is gathered from a contiguous copy of its box; boolean volumes travel packed as the
    bits of one byte. Outside the zone each voxel is its own source: its value is rewritten
    unchanged.

    Args:
        volumes: full-size arrays, changed in place within the zone (any dtype).
        centre_mm: lesion centre (world RAS, mm).
        affine: voxel-to-world affine.
        box: a voxel box holding the zone (voxels outside it are not moved).
        zone_mm: zone radius (mm).
        strength: ``delta`` in [0, 1).
    """
    reach = moving_radius(zone_mm, strength, affine)
    if reach == 0.0:
        return
    # only voxels within `reach` can move: cut the box to that ball's box
    ball = ball_box(centre_mm, reach, affine, tuple(s.stop for s in box))
    box = tuple(slice(max(a.start, b.start), max(min(a.stop, b.stop), max(a.start, b.start)))
                for a, b in zip(box, ball))
    d = voxel_offsets(centre_mm, affine, box)
    shape = tuple(s.stop - s.start for s in box)
    size = int(np.prod(shape))
    if size == 0:
        return
    centre = [float(-o.ravel()[0]) for o in d]  # the centre's coordinates within the box
    scale = _scale_in_place(_squared_radius(d, affine), zone_mm, strength)
    strides = (shape[1] * shape[2], shape[2], 1)
    exact = np.float32 if size < 2**24 else np.float64  # integers up to the size are exact
    flat = np.zeros(shape, dtype=exact)
    source = np.empty(shape, dtype=exact)
    for v in range(3):
        # nearest source voxel: floor(c + s (v - c) + 0.5)
        np.multiply(scale, d[v], out=source)
        source += exact(centre[v] + 0.5)
        np.floor(source, out=source)
        if not 0.0 <= centre[v] <= shape[v] - 1:
            # the centre lies beyond the box (a crop or the volume's edge cut the zone): a source
            # past the edge takes the edge voxel
            np.clip(source, 0, shape[v] - 1, out=source)
        if strides[v] != 1:
            source *= exact(strides[v])
        flat += source
    nearest = flat.astype(np.intp).ravel()

    masks = []
    for name, volume in volumes.items():
        if volume.dtype == bool:
            region = volume[box]
            if region.any() and not region.all():  # a uniform mask stays as it is
                masks.append(name)
            continue
        region = np.ascontiguousarray(volume[box])
        volume[box] = region.ravel().take(nearest).reshape(shape)
    for group in range(0, len(masks), 8):  # eight masks as the bits of one byte, gathered once
        names = masks[group:group + 8]
        packed = np.zeros(shape, dtype=np.uint8)
        for bit, name in enumerate(names):
            packed |= volumes[name][box].view(np.uint8) << bit
        moved = packed.ravel().take(nearest).reshape(shape)
        for bit, name in enumerate(names):
            volumes[name][box] = ((moved >> bit) & 1).view(bool)
