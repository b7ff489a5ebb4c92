"""Kidneys, spleen, stomach (fluid with an air pocket), small bowel and colon.

Each organ is an implicit shape evaluated in its own bounding box and painted only over the
intra-abdominal fat below the diaphragm, so organs never cut the body wall, the spine or each
other's earlier voxels. Sizes are mm; random laws are ``mean + v * U(-w, w)`` with ``v`` the
config's ``anatomy_variability`` unless stated otherwise.
"""

from __future__ import annotations

import numpy as np

from synthtumor.phantom.body import BodyFrame
from synthtumor.phantom.geometry import (
    Grid, SmoothField, around, coarse_eval, ellipsoid_sdf, rotation, smooth_min,
)
from synthtumor.phantom.labels import LABELS
from synthtumor.phantom.tubes import Tubes, tube_rho

__all__ = ["paint_kidneys", "paint_spleen", "paint_stomach", "paint_bowel", "cavity_point"]

_FAT = LABELS["body_fat"]


def cavity_point(frame: BodyFrame, theta_deg: float, inset_mm: float) -> tuple[float, float]:
    """(x, y) in mm at polar angle ``theta_deg`` (0 = patient right, 90 = anterior),
    ``inset_mm`` inside the muscle wall."""
    a, b_ant, b_post = frame.semi_axes
    th = np.radians(theta_deg)
    b = b_ant if np.sin(th) > 0 else b_post
    r_out = 1.0 / (abs(np.cos(th) / a) ** 2.3 + abs(np.sin(th) / b) ** 2.3) ** (1 / 2.3)
    r = r_out - frame.wall_mm - inset_mm
    return float(r * np.cos(th)), float(r * np.sin(th))


def _paint(anatomy: np.ndarray, grid: Grid, frame: BodyFrame, box, mask: np.ndarray, label: str) -> None:
    view = anatomy[box.slices]
    z = grid.axis(2, box)[None, None, :]
    below = z < frame.dome[box.slices[:2]][:, :, None]
    view[mask & below & (view == _FAT)] = LABELS[label]


def paint_kidneys(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                  v: float) -> None:
    """Bean-shaped kidneys: ellipsoids (semi-axes ~ (25, 22, 55) + U(-3, 3) mm, long axis tilted
    ~ 15 deg with the upper pole medial) with a medial hilum notch; the renal medulla is a
    lobulated inner region 5-7 mm under the surface. Right kidney centre z ~ -40 + U(-10, 10),
    left ~ -25 + U(-10, 10) mm."""
    for side, name, zc in ((1.0, "kidney_right", -40.0), (-1.0, "kidney_left", -25.0)):
        centre = np.array([side * (frame.vb_radii[0] + around(rng, 42, 6, v)),
                           frame.spine_y + around(rng, -6, 6, v), around(rng, zc, 10, v)])
        radii = (around(rng, 25, 3, v), around(rng, 22, 3, v), around(rng, 55, 6, v))
        rot = rotation(rx_deg=around(rng, -12, 6, v), ry_deg=-side * around(rng, 15, 5, v),
                       rz_deg=side * around(rng, 25, 10, v))
        cortex = around(rng, 6, 1, v)
        box = grid.box(centre - 70, centre + 70)
        field = SmoothField(rng, centre - 70, centre + 70, 9.0)
        if box.empty:
            continue
        hilum = centre + rot @ np.array([-side * radii[0] * 0.95, 0.0, 0.0])

        def bean(x, y, z, centre=centre, radii=radii, rot=rot, hilum=hilum):
            notch = ellipsoid_sdf(x, y, z, hilum, (14.0, 11.0, radii[2] * 0.4), rot)
            return np.maximum(ellipsoid_sdf(x, y, z, centre, radii, rot), -notch)

        sdf = coarse_eval(bean, grid, box, step_mm=2.0)
        kidney = sdf < 0
        _paint(anatomy, grid, frame, box, kidney, name)
        medulla = (sdf < -cortex) & (field.on_box(grid, box) > -0.3) & (anatomy[box.slices] == LABELS[name])
        anatomy[box.slices][medulla] = LABELS["renal_medulla"]


def paint_spleen(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                 v: float) -> None:
    """Crescent spleen against the left posterolateral wall: an ellipsoid with semi-axes
    (20, 50, 45) + U(-3, 3), U(-6, 6), U(-6, 6) mm (thin axis radial), centred at polar angle
    ~ 215 + U(-10, 10) deg, 24 + U(-4, 4) mm inside the wall, z ~ 40 + U(-10, 10) mm, its
    visceral surface made concave by a second ellipsoid cut out of it."""
    theta = around(rng, 215, 10, v)
    x0, y0 = cavity_point(frame, theta, around(rng, 24, 4, v))
    centre = np.array([x0, y0, around(rng, 40, 10, v)])
    radii = (around(rng, 20, 3, v), around(rng, 50, 6, v), around(rng, 45, 6, v))
    rot = rotation(rx_deg=around(rng, 0, 10, v), rz_deg=theta)
    box = grid.box(centre - 70, centre + 70)
    if box.empty:
        return
    inner = centre + rot @ np.array([-radii[0] * 2.2, 0.0, 0.0])

    def crescent(x, y, z):
        cut = ellipsoid_sdf(x, y, z, inner, (radii[0] * 1.8, radii[1] * 1.1, radii[2] * 1.2), rot)
        return np.maximum(ellipsoid_sdf(x, y, z, centre, radii, rot), -cut)

    sdf = coarse_eval(crescent, grid, box, step_mm=2.0)
    _paint(anatomy, grid, frame, box, sdf < 0, "spleen")


def paint_stomach(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                  v: float) -> None:
    """Stomach in the left upper quadrant: smooth union (blend 15 mm) of fundus, body and antrum
    ellipsoids, perturbed by a smooth random field (+- 4 mm); a 3.5 mm wall; fluid contents with
    an air pocket anteriorly (the patient lies supine), air fraction ~ U(0.08, 0.3)."""
    top = float(frame.dome_at(-60.0, -10.0))
    parts = [
        ((around(rng, -45, 8, v), around(rng, 0, 8, v), top - around(rng, 32, 6, v)),
         (around(rng, 33, 4, v), around(rng, 32, 4, v), around(rng, 28, 4, v))),
        ((around(rng, -42, 8, v), around(rng, 32, 8, v), top - around(rng, 65, 8, v)),
         (around(rng, 32, 4, v), around(rng, 27, 4, v), around(rng, 38, 4, v))),
        ((around(rng, 0, 8, v), around(rng, 52, 6, v), top - around(rng, 90, 8, v)),
         (around(rng, 30, 4, v), around(rng, 18, 3, v), around(rng, 18, 3, v))),
    ]
    lo = np.min([np.subtract(c, r) for c, r in parts], axis=0) - 10
    hi = np.max([np.add(c, r) for c, r in parts], axis=0) + 10
    field = SmoothField(rng, lo, hi, 25.0)
    air_fraction = 0.08 + 0.22 * rng.uniform()
    box = grid.box(lo, hi)
    if box.empty:
        return

    def union(x, y, z):
        sdf = None
        for centre, radii in parts:
            s = ellipsoid_sdf(x, y, z, centre, radii)
            sdf = s if sdf is None else smooth_min(sdf, s, 15.0)
        return sdf + 4.0 * field.on_axes(x.ravel(), y.ravel(), z.ravel())

    sdf = coarse_eval(union, grid, box, step_mm=2.0)
    y = grid.axis(1, box)[None, :, None]
    _paint(anatomy, grid, frame, box, sdf < 0, "stomach_wall")
    view = anatomy[box.slices]
    lumen = (sdf < -3.5) & (view == LABELS["stomach_wall"])
    view[lumen] = LABELS["stomach"]
    if lumen.any():
        ys = np.broadcast_to(y, lumen.shape)[lumen]
        level = np.quantile(ys, 1.0 - air_fraction)
        view[lumen & (y > level)] = LABELS["stomach_air"]


def _random_walk(rng: np.random.Generator, start: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 n_steps: int, step: float) -> np.ndarray:
    pts = [np.asarray(start, dtype=np.float64)]
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    for _ in range(n_steps):
        d = d + 0.7 * rng.normal(size=3)
        p = pts[-1] + step * d / np.linalg.norm(d)
        out = (p < lo) | (p > hi)
        d[out] = -d[out]
        pts.append(np.clip(p, lo, hi))
        d /= np.linalg.norm(d)
    return np.array(pts)


def paint_bowel(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                v: float) -> None:
    """Small-bowel loops (random-walk tube, radius ~ U(10, 13) mm, 2.5 mm wall, fluid-filled) in
    the lower anterior abdomen, and the colon (ascending radius ~ 20, transverse ~ 17,
    descending ~ 14 mm, + U(-2, 2)) framing it, its contents stool with gas pockets where a smooth
    random field exceeds 0.2 (about 40 % of the lumen)."""
    z_min = grid.origin[2] - 10.0
    lo = np.array([-75.0, -5.0, z_min])
    hi = np.array([75.0, 80.0, -35.0])
    start = lo + rng.uniform(size=3) * (hi - lo)
    walk = _random_walk(rng, start, lo, hi, 70, 14.0)
    radius = rng.uniform(10.0, 13.0)
    _paint_tube(grid, anatomy, frame, Tubes.polyline(walk, radius), 2.5, "bowel_wall", "bowel", None)

    x_r, _ = cavity_point(frame, -5.0, around(rng, 28, 4, v))
    x_l, _ = cavity_point(frame, 185.0, around(rng, 22, 4, v))
    z_hf, z_sf = around(rng, -60, 8, v), around(rng, -15, 8, v)
    y_tr = around(rng, 55, 8, v)
    pts = np.array([
        [x_r, around(rng, -5, 6, v), z_min - 20], [x_r, 0.0, (z_min + z_hf) / 2], [x_r - 5, 10.0, z_hf],
        [x_r - 35, y_tr, z_hf + 5], [0.0, y_tr + 8, z_hf - around(rng, 10, 8, v)],
        [x_l + 30, y_tr - 5, z_sf - 10], [x_l, 5.0, z_sf], [x_l, -10.0, (z_sf + z_min) / 2],
        [x_l + 5, -12.0, z_min - 20],
    ])
    radii = np.array([20, 20, 19, 17, 17, 16, 15, 14, 14]) + around(rng, 0, 2, v)
    field = SmoothField(rng, (-200, -200, z_min - 40), (200, 200, 100), 12.0)
    _paint_tube(grid, anatomy, frame, Tubes.polyline(pts, radii), 2.0, "bowel_wall", "colon", field)


def _paint_tube(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, tubes: Tubes, wall_mm: float,
                wall: str, lumen: str, gas_field: SmoothField | None) -> None:
    box, rho = tube_rho(grid, tubes)
    if box.empty:
        return
    r_mean = float(np.mean(np.r_[tubes.r0, tubes.r1]))
    _paint(anatomy, grid, frame, box, rho <= 1.0, wall)
    view = anatomy[box.slices]
    inner = (rho <= 1.0 - wall_mm / r_mean) & (view == LABELS[wall])
    view[inner] = LABELS[lumen]
    if gas_field is not None:
        view[inner & (gas_field.on_box(grid, box) > 0.2)] = LABELS["colon_gas"]
