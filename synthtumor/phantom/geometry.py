"""World-coordinate grid, sub-boxes, smooth random fields and implicit shapes.

Everything here works in world millimetres (RAS+: +x patient right, +y anterior, +z superior),
so shapes and random fields are the same continuous objects whatever the voxel spacing.
Implicit shapes are signed-distance-like functions: negative inside, about the distance to the
surface in mm near it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "Grid", "Box", "SmoothField", "ellipsoid_sdf", "smooth_min", "smooth_max",
    "rotation", "around", "coarse_eval", "separable_apply",
]


@dataclass(frozen=True)
class Box:
    """An axis-aligned block of voxels ``[lo, hi)`` of a :class:`Grid`."""

    lo: tuple[int, int, int]
    hi: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """Index the full volume with this to get the block."""
        return tuple(slice(a, b) for a, b in zip(self.lo, self.hi))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Block shape in voxels."""
        return tuple(b - a for a, b in zip(self.lo, self.hi))  # type: ignore[return-value]

    @property
    def empty(self) -> bool:
        """True when the block holds no voxel."""
        return any(b <= a for a, b in zip(self.lo, self.hi))


@dataclass(frozen=True)
class Grid:
    """A voxel grid with a diagonal RAS+ affine.

    Attributes:
        shape: voxels along X, Y, Z.
        spacing: voxel size along X, Y, Z in mm.
        origin: world position (mm) of voxel (0, 0, 0).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @classmethod
    def centred(cls, field_of_view: tuple[float, ...], spacing: tuple[float, ...]) -> Grid:
        """Grid covering ``field_of_view`` (mm) at ``spacing`` (mm), world (0, 0, 0) at its centre."""
        shape = tuple(max(1, int(round(f / s))) for f, s in zip(field_of_view, spacing))
        origin = tuple(-(n - 1) / 2.0 * s for n, s in zip(shape, spacing))
        return cls(shape, tuple(float(s) for s in spacing), origin)  # type: ignore[arg-type]

    @property
    def affine(self) -> np.ndarray:
        """4 x 4 voxel-to-world affine (diagonal, positive spacings)."""
        affine = np.diag([*self.spacing, 1.0])
        affine[:3, 3] = self.origin
        return affine

    @property
    def voxel_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(np.prod(self.spacing))

    def axis(self, i: int, box: Box | None = None) -> np.ndarray:
        """World coordinates (mm, float32) of the voxel centres along axis ``i`` (of ``box``)."""
        lo, hi = (0, self.shape[i]) if box is None else (box.lo[i], box.hi[i])
        return (self.origin[i] + self.spacing[i] * np.arange(lo, hi)).astype(np.float32)

    def mesh(self, box: Box | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open mesh of world coordinates: x (n,1,1), y (1,n,1), z (1,1,n) in mm."""
        x, y, z = (self.axis(i, box) for i in range(3))
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def box(self, lo_mm: np.ndarray | tuple, hi_mm: np.ndarray | tuple) -> Box:
        """Smallest block holding every voxel centre in the world box [lo_mm, hi_mm], clipped."""
        lo = [max(0, int(math.ceil((a - o) / s - 1e-6))) for a, o, s in zip(lo_mm, self.origin, self.spacing)]
        hi = [min(n, int(math.floor((b - o) / s + 1e-6)) + 1)
              for b, o, s, n in zip(hi_mm, self.origin, self.spacing, self.shape)]
        return Box(tuple(lo), tuple(max(a, b) for a, b in zip(lo, hi)))  # type: ignore[arg-type]

    def index_of(self, points: np.ndarray) -> np.ndarray:
        """Nearest voxel index (int, clipped to the grid) of world points (n, 3) in mm."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        idx = np.rint((points - np.asarray(self.origin)) / np.asarray(self.spacing)).astype(np.int64)
        return np.clip(idx, 0, np.asarray(self.shape) - 1)

    def world_of(self, index: np.ndarray) -> np.ndarray:
        """World position (mm) of voxel indices (n, 3)."""
        return np.asarray(index, dtype=np.float64) * np.asarray(self.spacing) + np.asarray(self.origin)


class SmoothField:
    """A smooth random field of unit variance: i.i.d. N(0, 1) values on a lattice of step
    ``cell_mm`` anchored at world 0, interpolated with cubic B-splines (normalised so the
    variance is exactly 1 everywhere). The lattice lives in world mm, so the field does not
    depend on the voxel spacing it is sampled at.

    Args:
        rng: random generator (draws the lattice values).
        lo_mm: lower world corner (mm) of the region the field must cover.
        hi_mm: upper world corner (mm).
        cell_mm: lattice step in mm; features are about this size.
    """

    def __init__(self, rng: np.random.Generator, lo_mm: np.ndarray | tuple,
                 hi_mm: np.ndarray | tuple, cell_mm: float) -> None:
        self.cell = float(cell_mm)
        self.k0 = np.floor(np.asarray(lo_mm, dtype=np.float64) / self.cell).astype(int) - 2
        k1 = np.ceil(np.asarray(hi_mm, dtype=np.float64) / self.cell).astype(int) + 3
        self.values = rng.standard_normal(tuple(int(n) for n in k1 - self.k0))

    def _weights(self, coords: np.ndarray, axis: int) -> sparse.csr_matrix:
        n_nodes = self.values.shape[axis]
        u = np.clip(np.asarray(coords, dtype=np.float64) / self.cell - self.k0[axis], 1.0, n_nodes - 2.001)
        i = np.floor(u).astype(int)
        f = u - i
        basis = np.stack([(1 - f) ** 3 / 6, (3 * f**3 - 6 * f**2 + 4) / 6,
                          (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6, f**3 / 6], axis=1)
        basis /= np.sqrt((basis**2).sum(axis=1, keepdims=True))
        rows = np.repeat(np.arange(len(u)), 4)
        cols = (i[:, None] + np.arange(-1, 3)[None, :]).ravel()
        return sparse.csr_matrix((basis.ravel(), (rows, cols)), shape=(len(u), n_nodes))

    def on_axes(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Field (float32) on the grid ``x (nx) x y (ny) x z (nz)`` of world coordinates (mm)."""
        weights = [self._weights(np.ravel(c), a) for a, c in enumerate((x, y, z))]
        return separable_apply(self.values, weights)

    def on_box(self, grid: Grid, box: Box) -> np.ndarray:
        """Field (float32) on the voxels of ``box``."""
        return self.on_axes(*(grid.axis(i, box) for i in range(3)))



def separable_apply(values: np.ndarray, weights: list) -> np.ndarray:
    """``out[i, j, k] = sum_abc Wx[i, a] Wy[j, b] Wz[k, c] values[a, b, c]`` (float32), with
    sparse weight matrices: the cost is a few operations per output voxel."""
    mx, my, mz = values.shape
    wx, wy, wz = weights
    f = wz @ values.reshape(mx * my, mz).T                         # (nz, mx*my)
    nz = f.shape[0]
    f = f.reshape(nz, mx, my).transpose(2, 0, 1).reshape(my, nz * mx)
    f = wy @ f                                                     # (ny, nz*mx)
    ny = f.shape[0]
    f = f.reshape(ny, nz, mx).transpose(2, 0, 1).reshape(mx, ny * nz)
    f = wx @ f.astype(np.float32)                                  # (nx, ny*nz)
    return np.ascontiguousarray(np.asarray(f, dtype=np.float32).reshape(-1, ny, nz))


def _linear_weights(coords: np.ndarray, nodes: np.ndarray) -> sparse.csr_matrix:
    step = float(nodes[1] - nodes[0]) if len(nodes) > 1 else 1.0
    u = np.clip((coords.astype(np.float64) - nodes[0]) / step, 0, len(nodes) - 1.000001)
    i = np.floor(u).astype(int)
    f = u - i
    rows = np.repeat(np.arange(len(coords)), 2)
    cols = np.stack([i, np.minimum(i + 1, len(nodes) - 1)], axis=1).ravel()
    vals = np.stack([1 - f, f], axis=1).ravel().astype(np.float32)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(coords), len(nodes)))


def coarse_eval(fn, grid: Grid, box: Box, step_mm: float = 3.0) -> np.ndarray:
    """Evaluate a smooth function of world position on ``box`` cheaply.

    ``fn(x, y, z)`` (open-mesh world coordinates in mm, returning a broadcast 3-D array) is
    evaluated on a lattice of step ``step_mm`` anchored at world 0 and interpolated
    (separable trilinear) onto the box's voxel centres. The result does not depend on the voxel
    spacing, and the cost of ``fn`` does not grow with the resolution.
    """
    axes = [grid.axis(i, box) for i in range(3)]
    nodes = [np.arange(np.floor(a[0] / step_mm) - 1, np.ceil(a[-1] / step_mm) + 2).astype(np.float32)
             * np.float32(step_mm) for a in axes]
    coarse = np.asarray(fn(nodes[0][:, None, None], nodes[1][None, :, None], nodes[2][None, None, :]),
                        dtype=np.float32)
    coarse = np.ascontiguousarray(np.broadcast_to(coarse, tuple(len(n) for n in nodes)))
    return separable_apply(coarse, [_linear_weights(a, n) for a, n in zip(axes, nodes)])


def rotation(rx_deg: float = 0.0, ry_deg: float = 0.0, rz_deg: float = 0.0) -> np.ndarray:
    """Rotation matrix Rz @ Ry @ Rx for angles (degrees) about the world x, y and z axes."""
    ax, ay, az = np.radians([rx_deg, ry_deg, rz_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def ellipsoid_sdf(x: np.ndarray, y: np.ndarray, z: np.ndarray, centre: tuple | np.ndarray,
                  radii: tuple | np.ndarray, rot: np.ndarray | None = None) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) to an ellipsoid.

    Args:
        x, y, z: broadcastable world coordinates in mm.
        centre: ellipsoid centre (mm).
        radii: semi-axes (mm) along the ellipsoid's own axes.
        rot: 3 x 3 rotation whose columns are the ellipsoid axes in world space (None: aligned).

    Returns:
        ``(q - 1) / |grad q|`` with ``q`` the normalised radius: exact on the surface to first
        order, monotone in ``q`` along every ray from the centre.
    """
    d = (x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2]))
    if rot is None:
        u = d
    else:
        rot = np.asarray(rot, dtype=np.float32)
        u = tuple(rot[0, i] * d[0] + rot[1, i] * d[1] + rot[2, i] * d[2] for i in range(3))
    a = [np.float32(r) for r in radii]
    q2 = (u[0] / a[0]) ** 2 + (u[1] / a[1]) ** 2 + (u[2] / a[2]) ** 2
    g2 = (u[0] / a[0] ** 2) ** 2 + (u[1] / a[1] ** 2) ** 2 + (u[2] / a[2] ** 2) ** 2
    q = np.sqrt(q2)
    return ((q - 1) * q / np.sqrt(np.maximum(g2, np.float32(1e-12)))).astype(np.float32)


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth union of two signed-distance fields with blend width ``k`` mm (polynomial smin)."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / np.float32(k), 0, 1)
    return (b + (a - b) * h - np.float32(k) * h * (1 - h)).astype(np.float32)


def smooth_max(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth intersection of two signed-distance fields (blend width ``k`` mm)."""
    return -smooth_min(-a, -b, k)


def around(rng: np.random.Generator, mean: float, half_width: float, scale: float = 1.0) -> float:
    """Draw ``mean + scale * U(-half_width, half_width)``: one modest anatomical variation."""
    return float(mean + scale * half_width * rng.uniform(-1.0, 1.0))
