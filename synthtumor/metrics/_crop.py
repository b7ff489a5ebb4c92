"""Bounding boxes: every metric works inside the box of its masks, never on the whole scan."""

from __future__ import annotations

import numpy as np

__all__ = ["bounding_box", "union_box"]

Box = tuple[slice, slice, slice]


def bounding_box(mask: np.ndarray, margin: int = 0) -> Box | None:
    """The smallest box holding every True voxel of ``mask``, grown by ``margin`` voxels.

    The box is clipped to the array, so near the border it grows less than ``margin``.

    Args:
        mask: a boolean array.
        margin: voxels added on every side.

    Returns:
        One slice per axis, or None for an empty mask.
    """
    slices = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        if hits.size == 0:
            return None
        lo = max(int(hits[0]) - margin, 0)
        hi = min(int(hits[-1]) + 1 + margin, mask.shape[axis])
        slices.append(slice(lo, hi))
    return tuple(slices)  # type: ignore[return-value]


def union_box(a: np.ndarray, b: np.ndarray, margin: int = 0) -> Box | None:
    """The bounding box of ``a | b`` grown by ``margin`` voxels (None when both are empty)."""
    return bounding_box(a | b, margin)
