"""The liver: lobes as a smooth union of ellipsoids, deformed, clipped, sized to a target volume.

The shape is the zero level set of a signed-distance-like function ``f`` (mm): the smooth union
(blend 20 mm) of a right lobe, its inferior extension, the medial (quadrate) segment, the left
lobe crossing the midline anteriorly and the caudate lobe beside the IVC (each centre and
semi-axis ``mean + v U(-w, w)`` mm), evaluated at coordinates displaced by a smooth random field
(``|d| ~ 10 mm``, 45 mm features), plus a ramp (0.7 mm/mm) more than 16 cm below the right dome
so that a large liver widens rather than lengthens. It is clipped to the free intra-abdominal
fat below the diaphragm (so it fills the right upper quadrant under the dome and leaves the
IVC, kidneys, stomach and bowel out), rescaled about the top of the right lobe towards the
target volume ``V`` (litres, drawn by the caller), then thresholded at the level that gives
exactly ``V``, reduced to its largest 26-connected component and its holes filled (an enclosed
scrap of another soft organ becomes liver).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import ndimage as ndi

from synthtumor.phantom.body import BodyFrame
from synthtumor.phantom.geometry import (
    Box, Grid, SmoothField, around, coarse_eval, ellipsoid_sdf, rotation, smooth_min,
)
from synthtumor.phantom.labels import LABELS

__all__ = ["Liver", "DepthMap", "build_liver"]

_STRUCT26 = np.ones((3, 3, 3), dtype=bool)
_FILLABLE = ("body_fat", "stomach", "stomach_air", "stomach_wall", "bowel", "bowel_wall", "colon",
             "colon_gas", "spleen", "kidney_right", "kidney_left", "renal_medulla")


class DepthMap:
    """Depth (mm) below the surface of a mask, on a ~3 mm lattice, with its gradient.

    Used to steer vessels towards the interior and to place lesions; 0 outside the mask.
    """

    def __init__(self, grid: Grid, box: Box, mask: np.ndarray, step_mm: float = 3.0) -> None:
        self.stride = tuple(max(1, int(round(step_mm / s))) for s in grid.spacing)
        sub = np.pad(mask[:: self.stride[0], :: self.stride[1], :: self.stride[2]], 1)
        self.step = np.asarray(grid.spacing) * np.asarray(self.stride)
        self.origin = grid.world_of(np.asarray(box.lo)[None])[0] - self.step
        self.depth = ndi.distance_transform_edt(sub, sampling=self.step).astype(np.float32)
        self.grad = np.stack(np.gradient(self.depth, *self.step), axis=0).astype(np.float32)

    def _coords(self, points: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(points) - self.origin) / self.step).T

    def at(self, points: np.ndarray) -> np.ndarray:
        """Depth (mm, trilinear) at world points (n, 3); 0 outside."""
        return ndi.map_coordinates(self.depth, self._coords(points), order=1, mode="constant", cval=0.0)

    def gradient_at(self, points: np.ndarray) -> np.ndarray:
        """Depth gradient (n, 3) at world points, pointing towards the interior."""
        c = self._coords(points)
        return np.stack([ndi.map_coordinates(g, c, order=1, mode="nearest") for g in self.grad], axis=1)


@dataclass
class Liver:
    """The liver region on a block of the grid.

    Attributes:
        box: the block.
        mask: bool on the block: liver parenchyma (vessels and lesions painted later are inside).
        depth: depth below the liver surface.
        volume_ml: the mask's volume in mL.
    """

    box: Box
    mask: np.ndarray
    depth: DepthMap
    volume_ml: float


def _lobes(frame: BodyFrame, rng: np.random.Generator, v: float) -> list:
    z_top = frame.dome_params["base"] + frame.dome_params["domes"][0][2]
    x_ivc, y_ivc = frame.ivc_axis[0, 0], frame.ivc_axis[0, 1]
    lobes = [  # (centre, radii, rotation about z in degrees)
        ((around(rng, 62, 6, v), around(rng, 0, 6, v), z_top - around(rng, 72, 6, v)),
         (around(rng, 68, 5, v), around(rng, 80, 6, v), around(rng, 72, 6, v)), around(rng, 0, 10, v)),
        ((around(rng, 82, 8, v), around(rng, 8, 8, v), z_top - around(rng, 125, 10, v)),
         (around(rng, 42, 5, v), around(rng, 58, 6, v), around(rng, 42, 6, v)), around(rng, 0, 15, v)),
        ((around(rng, 12, 6, v), around(rng, 42, 6, v), z_top - around(rng, 85, 6, v)),
         (around(rng, 38, 4, v), around(rng, 38, 4, v), around(rng, 38, 5, v)), 0.0),
        ((around(rng, -32, 8, v), around(rng, 42, 6, v), z_top - around(rng, 52, 6, v)),
         (around(rng, 58, 6, v), around(rng, 36, 4, v), around(rng, 26, 4, v)), around(rng, -22, 8, v)),
        ((x_ivc - around(rng, 14, 3, v), y_ivc + around(rng, 16, 3, v), z_top - around(rng, 70, 6, v)),
         (around(rng, 20, 3, v), around(rng, 18, 3, v), around(rng, 30, 4, v)), 0.0),
    ]
    return lobes


def build_liver(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                v: float, volume_l: float) -> Liver:
    """Shape the liver, paint it (label ``liver``) over free abdominal fat and return it.

    Args:
        grid: voxel grid.
        anatomy: label map, already holding every structure painted before the liver.
        frame: the body's reference geometry.
        rng: random generator (draws the lobe sizes and positions, each ``mean + v U(-w, w)``
            mm, and the displacement field).
        v: anatomy variability multiplier.
        volume_l: target liver volume in litres (the caller draws ``V ~ U(a, b)``).
    """
    lobes = _lobes(frame, rng, v)
    dome_top = frame.dome_params["base"] + frame.dome_params["domes"][0][2]
    z_top = float(frame.dome.max()) + 5.0
    a = frame.semi_axes[0]
    lo = np.array([-120.0, -frame.semi_axes[2], grid.origin[2] - 5.0])
    hi = np.array([a, frame.semi_axes[1], z_top])
    fields = [SmoothField(rng, lo - 20, hi + 20, 45.0) for _ in range(3)]
    amplitude = 10.0 * max(v, 0.0)
    rots = [rotation(rz_deg=rz) for _, _, rz in lobes]

    anchor = np.array([lobes[0][0][0], lobes[0][0][1], dome_top - 20.0])

    def shape(x: np.ndarray, y: np.ndarray, z: np.ndarray, scale: float = 1.0) -> np.ndarray:
        dx, dy, dz = (amplitude * f.on_axes(x.ravel(), y.ravel(), z.ravel()) for f in fields)
        px, py, pz = ((c + dc - a) / scale + a for c, dc, a in zip((x, y, z), (dx, dy, dz), anchor))
        sdf = None
        for (centre, radii, _), rot in zip(lobes, rots):
            s = ellipsoid_sdf(px, py, pz, centre, radii, rot)
            sdf = s if sdf is None else smooth_min(sdf, s, 20.0)
        # more than ~16 cm below the dome the field climbs: a big liver grows sideways, not down
        return sdf * scale + 0.7 * np.maximum(0.0, (dome_top - 160.0) - z)

    box = grid.box(lo, hi)
    sdf = coarse_eval(shape, grid, box, step_mm=4.0)
    view = anatomy[box.slices]
    z = grid.axis(2, box)[None, None, :]
    below = z < frame.dome[box.slices[:2]][:, :, None]
    allowed = (view == LABELS["body_fat"]) & below
    # a hole may swallow an enclosed scrap of stomach or bowel, never a great vessel or bone
    fillable = below & np.isin(view, [LABELS[n] for n in _FILLABLE])
    # rescale the shape about the top of the right lobe towards the target volume, then pick
    # the level set that meets it exactly
    scale = 1.0
    for _ in range(2):
        natural_ml = np.count_nonzero(sdf[allowed] <= 0) * grid.voxel_mm3 / 1000.0
        step = (volume_l * 1000.0 / max(natural_ml, 1.0)) ** (1 / 3)
        if abs(step - 1.0) <= 0.02:
            break
        scale = float(np.clip(scale * step, 0.8, 1.4))
        sdf = coarse_eval(partial(shape, scale=scale), grid, box, step_mm=4.0)
    values = sdf[allowed]
    target = int(round(volume_l * 1e6 / grid.voxel_mm3))
    mask = np.zeros(box.shape, dtype=bool)
    for _ in range(3):
        k = int(np.clip(target, 1, values.size)) - 1
        level = np.partition(values, k)[k]
        mask = allowed & (sdf <= level)
        mask = _largest_component(mask)
        mask = ndi.binary_fill_holes(mask) & (allowed | fillable)
        mask = _largest_component(mask)
        count = int(np.count_nonzero(mask))
        desired = int(round(volume_l * 1e6 / grid.voxel_mm3))
        if abs(count - desired) <= 0.005 * desired:
            break
        target += desired - count
    view[mask] = LABELS["liver"]
    return Liver(box, mask, DepthMap(grid, box, mask), count * grid.voxel_mm3 / 1000.0)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of ``mask`` (labelled on its bounding box only)."""
    found = ndi.find_objects(mask.astype(np.uint8))
    if not found or found[0] is None:
        return mask
    crop = found[0]
    labels, n = ndi.label(mask[crop], structure=_STRUCT26)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    out = np.zeros_like(mask)
    out[crop] = labels == int(np.argmax(sizes))
    return out
