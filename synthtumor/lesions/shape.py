"""Lesion geometry in its own small box: a perturbed, rotated ellipsoid as a signed distance.

For a voxel at world offset ``x`` (mm) from the centre, with lesion axes ``u = R^T x`` and radii
``r``, the normalised radius is ``rho = |u / r|`` and the voxel lies inside where
``rho <= 1 + f(n)``, ``n = (u / r) / rho`` the direction on the unit sphere and ``f`` a smooth
surface perturbation bounded by ``lobulation + irregularity``:

* lobes: ``lobulation * sum_k w_k exp(kappa (n . d_k - 1)) / max(1, sum_k w_k)``,
  ``K ~ U{2..6}`` directions ``d_k`` uniform on the sphere, ``w_k ~ U(0.3, 1)``,
  ``kappa ~ U(4, 10)``;
* irregularity: ``irregularity * sum_m c_m cos(k_m . n + phi_m)`` with ``|c|_1 = 1``,
  ``M = 6`` waves, ``|k_m| ~ U(1, 3)``, ``phi_m ~ U(0, 2 pi)``.

The signed distance (mm, negative inside) is the first-order estimate
``(rho - 1 - f) / |grad rho|``. Voxel partial volume is tied to spacing: the boundary's
blur sigma along its normal ``nu`` is ``sqrt(sigma_edge^2 + sum_a (nu_a 0.29 s_a)^2)``, the second
term being the standard deviation of a box of width ``s_a`` (the voxel) along axis ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erfc

from synthtumor.lesions.spec import TumorSpec

__all__ = ["LesionField", "lesion_box", "lesion_field", "EDGE_SIGMA_PER_WIDTH", "VOXEL_BOX_STD"]

#: A Gaussian edge's 10-90 % rise width is 2.563 sigma.
EDGE_SIGMA_PER_WIDTH = 1.0 / 2.5631
#: Standard deviation of a unit box (a voxel's partial-volume footprint), 1/sqrt(12).
VOXEL_BOX_STD = 0.2887
#: Alpha below this is treated as zero, which bounds the zone a lesion touches.
ALPHA_FLOOR = 1e-3
_ALPHA_FLOOR_SIGMAS = 3.1  # 0.5 erfc(3.1 / sqrt 2) ~ 1e-3


@dataclass(eq=False)
class LesionField:
    """One lesion sampled on its box of voxels.

    Attributes:
        box: the voxel slices (X, Y, Z) the lesion may touch.
        signed_mm: signed distance to the surface (mm, negative inside), float32.
        rho_norm: normalised radius ``rho / (1 + f)``: 0 at the centre, 1 on the surface.
        direction: (3, ...) unit direction ``n`` in lesion axes (for angular patterns).
        offset_mm: (3, ...) world offset from the centre (mm).
        alpha: partial-volume weight in [0, 1] (1 well inside, 0 outside), float32.
    """

    box: tuple[slice, slice, slice]
    signed_mm: np.ndarray
    rho_norm: np.ndarray
    direction: np.ndarray
    offset_mm: np.ndarray
    alpha: np.ndarray


def _edge_sigma_bound(spec: TumorSpec, spacing: np.ndarray) -> float:
    return float(np.hypot(spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH, VOXEL_BOX_STD * spacing.max()))


def lesion_box(
    spec: TumorSpec, affine: np.ndarray, shape: tuple[int, ...], extra_mm: float = 0.0
) -> tuple[slice, slice, slice]:
    """The voxel box holding every voxel the lesion can touch (plus ``extra_mm``)."""
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    reach = spec.max_extent_mm + _ALPHA_FLOOR_SIGMAS * _edge_sigma_bound(spec, spacing) + extra_mm
    centre = np.linalg.solve(affine, np.append(spec.centre_mm, 1.0))[:3]
    # reach along each voxel axis: a world ball of radius `reach` spans reach * |row of A^-1|
    inv = np.linalg.inv(affine[:3, :3])
    half = reach * np.linalg.norm(inv, axis=1)
    lo = np.maximum(np.floor(centre - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre + half).astype(int) + 1, shape)
    hi = np.maximum(hi, lo)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


def world_offsets(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """(3, nx, ny, nz) world offsets (mm) of the box's voxels from the lesion centre."""
    grids = np.meshgrid(*[np.arange(s.start, s.stop, dtype=np.float32) for s in box], indexing="ij")
    a = affine.astype(np.float32)
    centre = np.asarray(spec.centre_mm, dtype=np.float32)
    return np.stack([
        a[w, 0] * grids[0] + a[w, 1] * grids[1] + a[w, 2] * grids[2] + (a[w, 3] - centre[w])
        for w in range(3)
    ])


def _perturbation_at(spec: TumorSpec, n: np.ndarray) -> np.ndarray:
    """The surface perturbation f at unit directions ``n`` (3, ...) in lesion axes."""
    rng = np.random.default_rng(spec.shape_seed)
    f = np.zeros(n.shape[1:], dtype=np.float32)
    k_lobes = int(rng.integers(2, 7))
    dirs = rng.normal(size=(k_lobes, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    weights = rng.uniform(0.3, 1.0, k_lobes)
    kappas = rng.uniform(4.0, 10.0, k_lobes)
    if spec.lobulation > 0:
        lobes = np.zeros_like(f)
        for d, w, kap in zip(dirs, weights, kappas):
            dot = d[0] * n[0] + d[1] * n[1] + d[2] * n[2]
            lobes += w * np.exp(kap * (dot - 1.0))
        f += np.float32(spec.lobulation / max(1.0, weights.sum())) * lobes
    waves = rng.normal(size=(6, 3))
    waves *= (rng.uniform(1.0, 3.0, 6) / np.linalg.norm(waves, axis=1))[:, None]
    phases = rng.uniform(0, 2 * np.pi, 6)
    coeffs = rng.normal(size=6)
    coeffs /= np.abs(coeffs).sum()
    if spec.irregularity > 0:
        for k, phi, c in zip(waves, phases, coeffs):
            f += np.float32(spec.irregularity * c) * np.cos(k[0] * n[0] + k[1] * n[1] + k[2] * n[2] + phi)
    return f


#: The perturbation is evaluated on a grid about this many points across, then interpolated.
_COARSE_POINTS = 10


def _perturbation(spec: TumorSpec, n: np.ndarray) -> np.ndarray:
    """f(n) on the box: exact on small boxes, else on a coarse sub-grid, linearly interpolated.

    Evaluating the lobes and waves costs a dozen transcendental functions per voxel; f varies
    slowly with position away from the centre (where it does not matter), so a sub-grid of
    about 10 points across and trilinear interpolation keep the surface smooth for a fraction
    of the cost.
    """
    if spec.lobulation == 0 and spec.irregularity == 0:
        return np.zeros(n.shape[1:], dtype=np.float32)
    step = max(1, min(n.shape[1:]) // _COARSE_POINTS)
    if step == 1:
        return _perturbation_at(spec, n)
    values = _perturbation_at(spec, n[:, ::step, ::step, ::step])
    # separable linear interpolation: fine index j sits at coarse coordinate j / step
    for axis, size in enumerate(n.shape[1:]):
        pos = np.arange(size, dtype=np.float32) / step
        lo = np.minimum(pos.astype(np.intp), values.shape[axis] - 1)
        hi = np.minimum(lo + 1, values.shape[axis] - 1)
        w = (pos - lo).reshape([-1 if a == axis else 1 for a in range(3)])
        values = np.take(values, lo, axis=axis) * (1 - w) + np.take(values, hi, axis=axis) * w
    return values.astype(np.float32)


def lesion_field(spec: TumorSpec, affine: np.ndarray, box: tuple[slice, slice, slice]) -> LesionField:
    """Sample the lesion's signed distance, direction and partial-volume alpha on ``box``."""
    x = world_offsets(spec, affine, box)
    rot = np.asarray(spec.rotation, dtype=np.float32)
    radii = np.asarray(spec.radii_mm, dtype=np.float32)
    u = np.einsum("wa,w...->a...", rot, x)  # lesion-axis coordinates (mm)
    q = u / radii[:, None, None, None]
    rho = np.sqrt((q * q).sum(axis=0))
    safe = np.maximum(rho, 1e-6)
    n = q / safe
    surface = 1.0 + _perturbation(spec, n)
    g_lesion = q / radii[:, None, None, None]  # D^2 u: gradient of rho times rho, lesion axes
    g_norm = np.maximum(np.sqrt((g_lesion * g_lesion).sum(axis=0)), 1e-12)
    signed = ((rho - surface) * safe / g_norm).astype(np.float32)
    # the boundary normal in world axes, then its components along the voxel axes
    normal_world = np.einsum("wa,a...->w...", rot, g_lesion) / g_norm
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    axes = (affine[:3, :3] / spacing).astype(np.float32)  # unit world direction of each voxel axis
    pv = np.zeros_like(rho)
    for v in range(3):
        along = np.einsum("w,w...->...", axes[:, v], normal_world)
        pv += (along * np.float32(VOXEL_BOX_STD * spacing[v])) ** 2
    sigma = np.sqrt(np.float32((spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH) ** 2) + pv)
    alpha = (0.5 * erfc(signed / (np.float32(np.sqrt(2.0)) * sigma))).astype(np.float32)
    alpha[alpha < ALPHA_FLOOR] = 0.0
    return LesionField(
        box=box,
        signed_mm=signed,
        rho_norm=(rho / surface).astype(np.float32),
        direction=n.astype(np.float32),
        offset_mm=x,
        alpha=alpha,
    )
