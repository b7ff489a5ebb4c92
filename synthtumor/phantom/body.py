"""Body wall, diaphragm, lung bases, heart, spine, ribs, aorta and inferior vena cava.

All sizes are mm in world RAS+ coordinates (origin near the centre of the field of view). Every
random size or position is ``mean + v * U(-w, w)`` with ``v`` the config's
``anatomy_variability``; the laws are given per structure below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from synthtumor.phantom.geometry import Grid, around, ellipsoid_sdf, rotation
from synthtumor.phantom.labels import LABELS
from synthtumor.phantom.tubes import Tubes, tube_mask

__all__ = ["BodyFrame", "build_body", "paint_spine", "paint_ribs", "paint_great_vessels"]


@dataclass
class BodyFrame:
    """Reference geometry of one phantom, shared by the organ builders.

    Attributes:
        semi_axes: outer body semi-axes (x, y anterior, y posterior) in mm.
        wall_mm: skin + subcutaneous fat + muscle thickness (mean) in mm.
        cavity: (nx, ny) bool, the abdominal cavity cross-section (inside the muscle wall).
        dome: (nx, ny) float32, height z (mm) of the diaphragm's lower surface above each (x, y).
        dome_params: the dome model parameters, to evaluate the dome at scattered points.
        spine_y: y (mm) of the vertebral-body centre at z = 0; ``spine_tilt`` its slope dy/dz.
        vb_radii: vertebral-body semi-axes (x, y) in mm.
        aorta: the aorta as tubes; ``ivc`` the inferior vena cava.
        ivc_axis: the IVC centre line as points (n, 3) mm, bottom to top.
        ivc_radius: IVC radius in mm.
        heart_z: z (mm) of the heart's lower surface (central tendon).
    """

    semi_axes: tuple[float, float, float]
    wall_mm: float
    cavity: np.ndarray
    dome: np.ndarray
    dome_params: dict
    spine_y: float
    spine_tilt: float
    vb_radii: tuple[float, float]
    aorta: Tubes
    ivc: Tubes
    ivc_axis: np.ndarray
    ivc_radius: float
    heart_z: float

    def dome_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Diaphragm height z (mm) above world points (x, y) in mm."""
        return _dome(np.asarray(x, np.float32), np.asarray(y, np.float32), **self.dome_params)

    def spine_y_at(self, z: np.ndarray | float) -> np.ndarray:
        """y (mm) of the vertebral-body centre at height z (mm)."""
        return self.spine_y + self.spine_tilt * np.asarray(z, dtype=np.float32)


def _dome(x: np.ndarray, y: np.ndarray, base: float, domes: list, posterior_drop: float) -> np.ndarray:
    z = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y)), np.float32)
    for xc, yc, height, sx, sy in domes:
        sy_eff = np.where(y > yc, 3.0 * sy, sy)  # the front of the diaphragm stays high
        z = np.maximum(z, height * np.exp(-0.5 * (((x - xc) / sx) ** 2 + ((y - yc) / sy_eff) ** 2)))
    return (base + z - posterior_drop * np.maximum(0.0, -y - 20.0)).astype(np.float32)


def build_body(grid: Grid, anatomy: np.ndarray, rng: np.random.Generator, v: float) -> BodyFrame:
    """Paint skin, fat, muscle wall, cavity fat, diaphragm, lungs and heart; return the frame.

    Sampling laws (mm): body semi-axes A ~ 160 + U(-12, 12) (x), B_ant ~ 120 + U(-10, 10),
    B_post ~ 105 + U(-6, 6), superellipse power ~ 2.3 + U(-0.2, 0.2); skin 2; subcutaneous fat
    t ~ 20 + U(-10, 10), modulated +-30 % around the body by a random low-order Fourier series;
    muscle wall ~ 10 + U(-2, 2); diaphragm: base height 12 + U(-6, 6) plus three Gaussian domes
    (right 73 + U(-8, 8), left 60 + U(-8, 8), central tendon 48 + U(-6, 6) high), dropping
    posteriorly, 4.5 + U(-1, 1) thick; lungs above it lateral to a 48 mm mediastinum; heart an
    ellipsoid (semi-axes 62 + U(-6, 6), 45 + U(-5, 5), 50) on the central tendon.
    """
    x = grid.axis(0)[:, None]
    y = grid.axis(1)[None, :]
    a = around(rng, 160, 12, v)
    b_ant, b_post = around(rng, 120, 10, v), around(rng, 105, 6, v)
    power = around(rng, 2.3, 0.2, v)
    b = np.where(y > 0, np.float32(b_ant), np.float32(b_post))
    outside = (np.abs(x / a) ** power + np.abs(y / b) ** power) > 1.0
    depth = ndi.distance_transform_edt(~outside, sampling=grid.spacing[:2]).astype(np.float32)
    theta = np.arctan2(y / b, x / a)
    fat_mean = float(np.clip(around(rng, 20, 10, v), 10.0, 30.0))
    mod = np.zeros_like(theta)
    for k in (1, 2, 3):
        mod += 0.3 / k * v * rng.uniform(-1, 1) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    fat = np.clip(fat_mean * (1 + mod), 8.0, 35.0)
    muscle = around(rng, 10, 2, v)
    layer = np.full(outside.shape, LABELS["body_fat"], np.uint8)
    layer[depth <= 2.0 + fat + muscle] = LABELS["muscle"]
    layer[depth <= 2.0 + fat] = LABELS["subcutaneous_fat"]
    layer[depth <= 2.0] = LABELS["skin"]
    layer[outside] = LABELS["background"]
    anatomy[...] = layer[:, :, None]
    cavity = layer == LABELS["body_fat"]

    dome_params = {
        "base": around(rng, 12, 6, v),
        "domes": [
            (around(rng, 55, 8, v), around(rng, -5, 8, v), around(rng, 73, 8, v), 55.0, 60.0),
            (around(rng, -60, 8, v), around(rng, -10, 8, v), around(rng, 60, 8, v), 50.0, 55.0),
            (around(rng, -5, 6, v), around(rng, 15, 6, v), around(rng, 48, 6, v), 45.0, 45.0),
        ],
        "posterior_drop": around(rng, 0.35, 0.1, v),
    }
    dome = _dome(x, y, **dome_params)
    z = grid.axis(2)[None, None, :]
    diaphragm_mm = around(rng, 4.5, 1.0, v)
    above = z > dome[:, :, None]
    anatomy[above & cavity[:, :, None]] = LABELS["muscle"]
    lung_zone = cavity & (np.abs(x + 5.0) > 24.0)
    lung = (z > dome[:, :, None] + diaphragm_mm) & lung_zone[:, :, None]
    anatomy[lung] = LABELS["lung"]
    mediastinum = (z > dome[:, :, None] + diaphragm_mm) & (cavity & ~lung_zone)[:, :, None]
    anatomy[mediastinum] = LABELS["body_fat"]

    heart_z = dome_params["base"] + dome_params["domes"][2][2]
    heart_c = (around(rng, -15, 8, v), around(rng, 30, 8, v), heart_z + around(rng, 48, 6, v))
    heart_r = (around(rng, 62, 6, v), around(rng, 45, 5, v), 50.0)
    box = grid.box(np.subtract(heart_c, 70), np.add(heart_c, 70))
    if not box.empty:
        hx, hy, hz = grid.mesh(box)
        sdf = ellipsoid_sdf(hx, hy, hz, heart_c, heart_r, rotation(rz_deg=around(rng, -30, 10, v)))
        heart = (sdf < 0) & (hz > dome[box.slices[:2]][:, :, None] + diaphragm_mm)
        heart &= cavity[box.slices[:2]][:, :, None]
        anatomy[box.slices][heart] = LABELS["heart"]
    else:
        rng.uniform()

    spine_y = -b_post + 2.0 + 0.7 * fat_mean + around(rng, 60, 5, v)
    vb_radii = (around(rng, 22, 3, v), around(rng, 16, 2, v))
    spine_tilt = around(rng, 0.0, 0.08, v)
    aorta, ivc, ivc_axis, ivc_r = _great_vessels(grid, rng, v, spine_y, spine_tilt, vb_radii,
                                                  heart_z, heart_c)
    return BodyFrame((a, b_ant, b_post), 2.0 + fat_mean + muscle, cavity, dome, dome_params,
                     spine_y, spine_tilt, vb_radii, aorta, ivc, ivc_axis, ivc_r, heart_z)


def _great_vessels(grid: Grid, rng: np.random.Generator, v: float, spine_y: float, tilt: float,
                   vb: tuple[float, float], heart_z: float, heart_c: tuple) -> tuple:
    """Aorta (radius ~ 11 + U(-1.5, 1.5) mm, left-anterior of the spine, moving posterior above
    the aortic hiatus) and IVC (radius ~ 11 + U(-1.5, 1.5) mm, right-anterior of the spine,
    bending forward into the right atrium)."""
    z_lo, z_hi = grid.origin[2] - 20.0, grid.origin[2] + grid.spacing[2] * grid.shape[2] + 20.0
    zs = np.linspace(z_lo, z_hi, 12)
    r_ao = around(rng, 11, 1.5, v)
    x_ao = around(rng, -14, 4, v)
    y_ao = spine_y + vb[1] + r_ao + 2.0 + tilt * zs
    rise = np.clip((zs - 20.0) / 60.0, 0.0, 1.0)
    # above the hiatus the descending aorta lies left-anterolateral of the vertebral bodies
    aorta_pts = np.stack([x_ao - (vb[0] + 8.0 + x_ao) * rise, y_ao - (r_ao + 2.0) * rise, zs], axis=1)
    aorta = Tubes.polyline(aorta_pts, r_ao * (1.0 - 0.04 * (zs < 0) * (-zs / 100.0)))

    r_ivc = around(rng, 11, 1.5, v)
    x_ivc = around(rng, 24, 4, v)
    y_ivc = spine_y + vb[1] + around(rng, 6, 3, v)
    zs = np.linspace(z_lo, heart_z + 5.0, 10)
    forward = np.clip((zs - (heart_z - 25.0)) / 30.0, 0.0, 1.0) ** 2
    ivc_pts = np.stack([x_ivc - 6.0 * forward,
                        y_ivc + tilt * zs + (heart_c[1] - 10.0 - y_ivc) * forward, zs], axis=1)
    ivc_pts = np.vstack([ivc_pts, [[heart_c[0] + 25.0, heart_c[1], heart_z + 25.0]]])
    return aorta, Tubes.polyline(ivc_pts, r_ivc), ivc_pts, r_ivc


def paint_great_vessels(grid: Grid, anatomy: np.ndarray, frame: BodyFrame) -> None:
    """Paint the aorta and IVC (the IVC's top disappears in the heart, painted over it)."""
    for tubes, name in ((frame.aorta, "aorta"), (frame.ivc, "ivc")):
        box, mask = tube_mask(grid, tubes)
        view = anatomy[box.slices]
        keep = view != LABELS["heart"] if name == "ivc" else np.ones_like(mask)
        view[mask & keep & (view != LABELS["background"])] = LABELS[name]


def paint_spine(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator,
                v: float) -> None:
    """Vertebrae (cancellous core, 2 mm cortex, endplates), discs, spinal canal and arch,
    paraspinal and psoas muscles.

    Sampling laws (mm): vertebral period P ~ 32 + U(-3, 3) (body + disc), disc 0.25 P,
    level phase ~ U(0, P); canal radius ~ 8 + U(-1, 1); psoas radius grows linearly below
    z ~ 25 + U(-10, 10) to ~ 20 + U(-4, 4).
    """
    rx, ry = frame.vb_radii
    lo = (-80.0, frame.spine_y - 110.0 - 30.0, -1e4)
    hi = (80.0, frame.spine_y + ry + 30.0, 1e4)
    box = grid.box(lo, hi)
    x, y, z = grid.mesh(box)
    yc = frame.spine_y + frame.spine_tilt * z
    period = around(rng, 32, 3, v)
    phase = rng.uniform(0, period)
    disc_frac = 0.25
    u = np.mod(z - phase, period) / period
    is_disc = u < disc_frac
    endplate = (np.minimum(np.abs(u - disc_frac), np.abs(1 - u)) * period) < 1.8
    canal_r = around(rng, 8, 1, v)
    canal_y = yc - ry - canal_r - 3.0
    psoas_top = around(rng, 25, 10, v)
    psoas_r = around(rng, 20, 4, v)

    view = anatomy[box.slices]
    inside = view != LABELS["background"]
    # paraspinal muscles behind the transverse processes, psoas beside the vertebral bodies
    soft = np.isin(view, [LABELS["muscle"], LABELS["body_fat"], LABELS["subcutaneous_fat"]])
    for side in (-1.0, 1.0):
        para = ((x - side * 30.0) / 30.0) ** 2 + ((y - canal_y + 18.0) / 28.0) ** 2 <= 1.0
        view[np.broadcast_to(para, view.shape) & soft] = LABELS["muscle"]
        r_ps = psoas_r * np.clip((psoas_top - z) / 90.0, 0.0, 1.0)
        ps = (x - side * (rx + 0.6 * r_ps + 4.0)) ** 2 + ((y - yc - 2.0) * 1.15) ** 2 <= r_ps**2
        view[ps & inside] = LABELS["muscle"]
    vb_sdf = ellipsoid_sdf(x, y - yc, np.float32(0.0), (0.0, 0.0, 0.0), (rx, ry, 1e6))
    body = vb_sdf <= 0
    canal = (x**2 + (y - canal_y) ** 2) <= canal_r**2
    ring = (x**2 + (y - canal_y) ** 2) <= (canal_r + 5.0) ** 2
    spinous = (np.abs(x) <= 3.5) & (y < canal_y) & (y > canal_y - canal_r - 30.0) & (u > 0.35)
    reach = rx + 4.0 + 14.0 * np.clip(1.0 - np.abs(u - 0.6) / 0.12, 0.0, 1.0)
    transverse = (np.abs(y - canal_y - 1.0) <= 3.0 - 0.06 * np.abs(x)) & (np.abs(x) <= reach)
    arch = (ring | spinous | transverse) & ~is_disc & ~canal
    view[np.broadcast_to(arch, view.shape)] = LABELS["vertebra_cortex"]
    view[np.broadcast_to(body & ~is_disc, view.shape)] = LABELS["vertebra_cortex"]
    view[np.broadcast_to(body & ~is_disc & (vb_sdf < -2.0) & ~endplate, view.shape)] = LABELS["vertebra"]
    view[np.broadcast_to(body & is_disc, view.shape)] = LABELS["intervertebral_disc"]
    view[np.broadcast_to(canal, view.shape)] = LABELS["spinal_canal"]


def paint_ribs(grid: Grid, anatomy: np.ndarray, frame: BodyFrame, rng: np.random.Generator, v: float) -> None:
    """Ribs: bone tubes (radius ~ 4 + U(-0.8, 0.8) mm) in the body wall, from the spine around
    the side towards the front, descending anteriorly by ~ 45 + U(-10, 10) mm; 6 levels per
    side spaced ~ 26 + U(-3, 3) mm, the top one at z ~ 95 + U(-10, 10); the lowest two are
    short floating ribs."""
    a, b_ant, b_post = frame.semi_axes
    depth = frame.wall_mm - 4.0
    spacing = around(rng, 26, 3, v)
    z_top = around(rng, 95, 10, v)
    radius = around(rng, 4, 0.8, v)
    parts = []
    for level in range(6):
        end_deg = (70.0, 62.0, 52.0, 38.0, 10.0, -20.0)[level] + around(rng, 0, 6, v)
        drop = around(rng, 45, 10, v)
        z0 = z_top - level * spacing
        for side in (1.0, -1.0):
            th = np.radians(np.linspace(-70.0, end_deg, 14))
            b = np.where(np.sin(th) > 0, b_ant, b_post)
            # point on the outer superellipse along polar angle th, then inset by the wall
            r_out = 1.0 / (np.abs(np.cos(th) / a) ** 2.3 + np.abs(np.sin(th) / b) ** 2.3) ** (1 / 2.3)
            r = r_out - depth
            xs, ys = side * r * np.cos(th), r * np.sin(th)
            zs = z0 - drop * (th - th[0]) / (np.radians(115.0))
            head = [side * (frame.vb_radii[0] + 8.0), frame.spine_y - frame.vb_radii[1] - 6.0, z0 + 6.0]
            pts = np.vstack([head, np.stack([xs, ys, zs], axis=1)])
            parts.append(Tubes.polyline(pts, radius))
    box, mask = tube_mask(grid, Tubes.concat(parts))
    view = anatomy[box.slices]
    view[mask & (view != LABELS["background"]) & (view != LABELS["skin"])] = LABELS["ribs"]
