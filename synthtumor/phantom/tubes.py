"""Tapered tubes (chains of capsules) and their rasterisation.

A tube is a list of segments ``p0 -> p1`` (world mm) whose radius runs linearly from ``r0`` to
``r1`` (mm). Rasterising visits each segment's own bounding box only: the cost grows with the
tube's volume, never with the size of the scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthtumor.phantom.geometry import Box, Grid

__all__ = ["Tubes", "tube_rho", "tube_mask", "min_connected_radius"]


@dataclass
class Tubes:
    """Segments of tapered capsules.

    Attributes:
        p0: start points, (n, 3) world mm.
        p1: end points, (n, 3) world mm.
        r0: radius at the start, (n,) mm.
        r1: radius at the end, (n,) mm.
    """

    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray

    def __post_init__(self) -> None:
        self.p0 = np.asarray(self.p0, dtype=np.float64).reshape(-1, 3)
        self.p1 = np.asarray(self.p1, dtype=np.float64).reshape(-1, 3)
        self.r0 = np.asarray(self.r0, dtype=np.float64).reshape(-1)
        self.r1 = np.asarray(self.r1, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.r0)

    @classmethod
    def empty(cls) -> Tubes:
        """No segment."""
        return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0))

    @classmethod
    def polyline(cls, points: np.ndarray, radii: np.ndarray | float) -> Tubes:
        """Tube through ``points`` (n, 3) mm with radius ``radii`` (n,) mm at each point."""
        points = np.asarray(points, dtype=np.float64)
        radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(points),))
        return cls(points[:-1], points[1:], radii[:-1], radii[1:])

    @classmethod
    def concat(cls, parts: list[Tubes]) -> Tubes:
        """All segments of ``parts``, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("p0", "p1", "r0", "r1")))

    def scaled(self, factor: float) -> Tubes:
        """Copy with every radius multiplied by ``factor``."""
        return Tubes(self.p0.copy(), self.p1.copy(), self.r0 * factor, self.r1 * factor)

    @property
    def lengths(self) -> np.ndarray:
        """Segment lengths in mm."""
        return np.linalg.norm(self.p1 - self.p0, axis=1)

    def volume_mm3(self, min_radius_mm: float = 0.0) -> float:
        """Summed frustum volume (mm^3), overlaps counted twice; radii clamped below."""
        r0 = np.maximum(self.r0, min_radius_mm)
        r1 = np.maximum(self.r1, min_radius_mm)
        return float(np.sum(np.pi / 3 * self.lengths * (r0**2 + r0 * r1 + r1**2)))

    def bounds(self, min_radius_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """World bounding box (lo, hi) in mm of all segments."""
        r = np.maximum(np.maximum(self.r0, self.r1), min_radius_mm)[:, None]
        lo = np.minimum(self.p0, self.p1) - r
        hi = np.maximum(self.p0, self.p1) + r
        return lo.min(axis=0), hi.max(axis=0)


def min_connected_radius(spacing: tuple[float, float, float]) -> float:
    """Smallest rasterised radius (mm) that keeps a thin tube 26-connected on this grid.

    A capsule of radius at least half the voxel diagonal holds, for every point of its axis,
    the nearest voxel centre, and those voxels form a 26-connected chain. The value is also at
    least 0.6 x the largest spacing.
    """
    return max(0.6 * max(spacing), 0.5 * float(np.linalg.norm(spacing)) + 1e-3)


def _segment_rho(grid: Grid, box: Box, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    x, y, z = grid.mesh(box)
    ab = (b - a).astype(np.float32)
    dx, dy, dz = x - np.float32(a[0]), y - np.float32(a[1]), z - np.float32(a[2])
    l2 = float(ab @ ab)
    if l2 > 1e-12:
        t = np.clip((dx * ab[0] + dy * ab[1] + dz * ab[2]) / np.float32(l2), 0, 1)
        d2 = (dx - t * ab[0]) ** 2 + (dy - t * ab[1]) ** 2 + (dz - t * ab[2]) ** 2
        r = np.float32(ra) + t * np.float32(rb - ra)
    else:
        d2 = np.broadcast_to(dx**2 + dy**2 + dz**2, box.shape)
        r = np.float32(max(ra, rb))
    return np.sqrt(d2) / r


def tube_rho(grid: Grid, tubes: Tubes, min_radius_mm: float = 0.0) -> tuple[Box, np.ndarray]:
    """Normalised radial coordinate of a tube set.

    Args:
        grid: the voxel grid.
        tubes: the segments.
        min_radius_mm: radii are clamped to at least this (mm).

    Returns:
        ``(box, rho)``: the block holding every segment and, on it, ``rho = min over segments of
        distance / radius`` (float32; ``rho <= 1`` inside the tube, ``inf`` far away).
    """
    if not len(tubes):
        return Box((0, 0, 0), (0, 0, 0)), np.zeros((0, 0, 0), np.float32)
    lo, hi = tubes.bounds(min_radius_mm)
    union = grid.box(lo, hi)
    rho = np.full(union.shape, np.inf, dtype=np.float32)
    if union.empty:
        return union, rho
    r0 = np.maximum(tubes.r0, min_radius_mm)
    r1 = np.maximum(tubes.r1, min_radius_mm)
    for a, b, ra, rb in zip(tubes.p0, tubes.p1, r0, r1):
        rmax = max(ra, rb)
        box = grid.box(np.minimum(a, b) - rmax, np.maximum(a, b) + rmax)
        if box.empty:
            continue
        local = tuple(slice(l0 - u0, h0 - u0) for l0, h0, u0 in zip(box.lo, box.hi, union.lo))
        np.minimum(rho[local], _segment_rho(grid, box, a, b, ra, rb), out=rho[local])
    return union, rho


def tube_mask(grid: Grid, tubes: Tubes, min_radius_mm: float = 0.0) -> tuple[Box, np.ndarray]:
    """Voxels whose centre lies inside the tubes: ``(box, bool mask on box)``."""
    box, rho = tube_rho(grid, tubes, min_radius_mm)
    return box, rho <= 1.0
