"""Voxel grids and boxes: what lesions on one affine share, and the voxel box of a world ball.

An affine ``A`` (4 x 4, voxel to world mm) gives each lesion its grid once: spacing (mm), the
inverse, and ``|row_v(A^-1)|`` (voxels per mm along voxel axis ``v``), cached per affine. Boxes
are voxel slices cut to the volume; offsets are voxel indices minus a centre's continuous voxel
coordinate, so that world offsets are ``sum_v A[:, v] d_v`` (mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["VoxelGrid", "ball_box", "centred_box", "voxel_grid", "voxel_offsets"]


@dataclass(frozen=True, eq=False)
class VoxelGrid:
    """What every lesion on one voxel grid shares, computed once per affine."""

    inverse: np.ndarray  # 4 x 4 world-to-voxel
    spacing: np.ndarray  # voxel size (mm) along each voxel axis
    axes: np.ndarray  # unit world direction of each voxel axis (columns)
    row_norms: np.ndarray  # |row_v(A^-1)|: voxels per mm along voxel axis v, for a world ball
    isotropic: bool  # equal spacing along every axis
    orthogonal: bool  # voxel axes at right angles (no gantry tilt or shear)
    # the same numbers as Python floats, for per-lesion arithmetic on a handful of values
    # (several times faster than numpy calls on 3-vectors)
    inverse_rows: tuple[tuple[float, ...], ...]  # the top three rows of ``inverse``
    row_norms_list: tuple[float, ...]
    spacing_max: float


@lru_cache(maxsize=64)
def _grid_from_bytes(raw: bytes) -> VoxelGrid:
    affine = np.frombuffer(raw, dtype=float).reshape(4, 4)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    inverse = np.linalg.inv(affine)
    arrays = (inverse, spacing, affine[:3, :3] / spacing, np.linalg.norm(inverse[:3, :3], axis=1))
    for array in arrays:  # shared by every caller through the cache
        array.setflags(write=False)
    axes = arrays[2]
    return VoxelGrid(*arrays, bool(np.ptp(spacing) <= 1e-4 * spacing[0]),
                     bool(np.abs(axes.T @ axes - np.eye(3)).max() <= 1e-4),
                     tuple(tuple(row) for row in inverse[:3].tolist()), tuple(arrays[3].tolist()),
                     float(spacing.max()))


def voxel_grid(affine: np.ndarray) -> VoxelGrid:
    """The grid of ``affine`` (4 x 4, voxel to world mm), cached: read-only arrays, shared by callers."""
    return _grid_from_bytes(np.ascontiguousarray(affine, dtype=float).tobytes())


def ball_box(centre_mm, radius_mm: float, affine: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    """The voxel box holding the world ball of radius ``radius_mm`` (mm) around ``centre_mm``,
    cut to the volume: the ball spans ``radius |row_v(A^-1)|`` voxels either side along voxel
    axis ``v`` (the mass-effect zone, or the ball where anything moves)."""
    grid = voxel_grid(affine)
    return centred_box(centre_mm, [radius_mm * norm for norm in grid.row_norms_list], grid, shape)


def centred_box(centre_mm, half: list[float], grid: VoxelGrid, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    """Voxels within ``half[v]`` of the centre's voxel coordinate along each axis, cut to the
    volume (plain floats: a dozen numpy calls on 3-vectors cost more than the arithmetic)."""
    cx, cy, cz = (float(v) for v in centre_mm)
    box = []
    for v, (a, b, c, t) in enumerate(grid.inverse_rows):
        centre = a * cx + b * cy + c * cz + t
        lo = max(math.floor(centre - half[v]), 0)
        box.append(slice(lo, max(min(math.ceil(centre + half[v]) + 1, shape[v]), lo)))
    return tuple(box)  # type: ignore[return-value]


def voxel_offsets(centre_mm, affine: np.ndarray, box: tuple[slice, ...]) -> list[np.ndarray]:
    """Per voxel axis, the box's voxel indices minus the centre's (continuous) voxel coordinate.

    Returns three float32 arrays shaped (nx, 1, 1), (1, ny, 1), (1, 1, nz), which broadcast to
    the box; a world offset (mm) is ``sum_v A[:, v] * d_v`` (``A`` the affine's 3 x 3 part).
    """
    inv = voxel_grid(affine).inverse
    centre = inv[:3, :3] @ np.asarray(centre_mm, dtype=float) + inv[:3, 3]
    out = []
    for v, s in enumerate(box):
        shape = [1, 1, 1]
        shape[v] = s.stop - s.start
        out.append((np.arange(s.start, s.stop, dtype=float) - centre[v]).astype(np.float32).reshape(shape))
    return out
