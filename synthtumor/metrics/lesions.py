"""Lesion-wise detection: connected lesions, one-to-one matching, size bins.

* Lesions are the 26-connected components of the tumour mask (``scipy.ndimage.label``),
  numbered 1..n in raster order of the array.
* Matching is one-to-one and maximises the summed IoU (Hungarian assignment,
  ``scipy.optimize.linear_sum_assignment``) over the pairs whose IoU reaches ``iou_threshold``
  (default 0.1); a pair with no overlapping voxel never matches. Matched reference lesions are
  true positives, unmatched reference lesions false negatives, unmatched predicted lesions false
  positives. So one reference lesion predicted as two pieces (a split) gives 1 TP + 1 FP (the
  piece with the larger IoU matches), and two reference lesions predicted as one blob (a merge)
  give 1 TP + 1 FN.
* Each lesion has its volume (mL), its equivalent radius ``r = (3 V / (4 pi))^(1/3)`` (mm, the
  radius of the sphere of the same volume), and its size bin. Bins are half-open intervals of
  the equivalent radius, ``[e_i, e_{i+1})`` for the edges ``e`` (default 0, 5, 10, inf mm):
  a lesion exactly on an edge falls in the upper bin. The radius is rounded to 1e-6 mm before
  binning, so a lesion built to sit on an edge is not pushed below it by floating-point error
  in the cube root. Radii outside every bin get the bin ``"out of range"``.
* A matched lesion's Dice is the voxel Dice with its partner; an unmatched lesion's Dice is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from synthtumor.metrics._crop import union_box
from synthtumor.metrics.surface import check_spacing

__all__ = [
    "DEFAULT_SIZE_BINS_MM",
    "OUT_OF_RANGE",
    "Lesion",
    "LesionMatching",
    "check_size_bins",
    "equivalent_radius_mm",
    "label_lesions",
    "match_lesions",
    "size_bin",
    "size_bin_labels",
]

DEFAULT_SIZE_BINS_MM: tuple[float, ...] = (0.0, 5.0, 10.0, math.inf)
OUT_OF_RANGE = "out of range"
_RADIUS_DECIMALS = 6
_FULL_3D = np.ones((3, 3, 3), dtype=bool)


def check_size_bins(edges: Sequence[float]) -> tuple[float, ...]:
    """Validate size-bin edges (mm): at least two, strictly increasing, the first >= 0.

    Raises:
        ValueError: the edges break one of these rules.
    """
    out = tuple(float(e) for e in edges)
    if len(out) < 2 or any(math.isnan(e) for e in out) or out[0] < 0 or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"size bins must be >= 2 strictly increasing radii >= 0 mm, got {list(edges)!r}")
    return out


def _edge(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def size_bin_labels(edges: Sequence[float] = DEFAULT_SIZE_BINS_MM) -> list[str]:
    """Labels of the bins, e.g. ``["[0, 5)", "[5, 10)", "[10, inf)"]`` (radii in mm)."""
    edges = check_size_bins(edges)
    return [f"[{_edge(a)}, {_edge(b)})" for a, b in zip(edges, edges[1:])]


def size_bin(radius_mm: float, edges: Sequence[float] = DEFAULT_SIZE_BINS_MM) -> str:
    """The label of the half-open bin ``[e_i, e_{i+1})`` holding ``radius_mm`` (upper bin on an edge)."""
    edges = check_size_bins(edges)
    r = round(float(radius_mm), _RADIUS_DECIMALS)
    i = int(np.searchsorted(edges, r, side="right")) - 1
    if i < 0 or i >= len(edges) - 1:
        return OUT_OF_RANGE
    return size_bin_labels(edges)[i]


def equivalent_radius_mm(volume_mm3: float) -> float:
    """Radius (mm) of the sphere whose volume is ``volume_mm3`` (mm^3)."""
    return float(np.cbrt(3.0 * float(volume_mm3) / (4.0 * math.pi)))


def label_lesions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of a 3-D tumour mask: (int32 labels 0..n, n)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"the tumour mask must be 3-D, got shape {mask.shape}")
    labels, n = ndi.label(mask, structure=_FULL_3D)
    return labels, int(n)


@dataclass(frozen=True)
class Lesion:
    """One connected lesion of the reference or the prediction.

    Attributes:
        side: ``"ref"`` or ``"pred"``.
        index: its component number (1-based, raster order).
        voxels: its size in voxels.
        volume_ml: its volume in mL.
        equivalent_radius_mm: radius (mm) of the sphere of the same volume.
        size_bin: the label of its size bin.
        match: the index of its partner on the other side, or None.
        iou: IoU with its partner (0 when unmatched).
        dice: voxel Dice with its partner (0 when unmatched).
    """

    side: str
    index: int
    voxels: int
    volume_ml: float
    equivalent_radius_mm: float
    size_bin: str
    match: int | None
    iou: float
    dice: float

    @property
    def matched(self) -> bool:
        """True when the lesion has a partner."""
        return self.match is not None

    def as_row(self, case_id: str) -> dict[str, Any]:
        """One row of ``lesions.csv``."""
        return {
            "case_id": case_id, "side": self.side, "lesion": self.index, "voxels": self.voxels,
            "volume_ml": self.volume_ml, "equivalent_radius_mm": self.equivalent_radius_mm,
            "size_bin": self.size_bin, "matched": int(self.matched),
            "match": self.match if self.match is not None else "", "iou": self.iou, "dice": self.dice,
        }


@dataclass(frozen=True)
class LesionMatching:
    """The lesions of one case and how they matched.

    Attributes:
        ref: reference lesions, by index.
        pred: predicted lesions, by index.
        iou_threshold: the IoU a pair needed to match.
        size_bins: the bin edges (mm of equivalent radius).
    """

    ref: tuple[Lesion, ...]
    pred: tuple[Lesion, ...]
    iou_threshold: float
    size_bins: tuple[float, ...]

    @property
    def tp(self) -> int:
        """Matched reference lesions."""
        return sum(les.matched for les in self.ref)

    @property
    def fn(self) -> int:
        """Unmatched reference lesions."""
        return len(self.ref) - self.tp

    @property
    def fp(self) -> int:
        """Unmatched predicted lesions."""
        return sum(not les.matched for les in self.pred)

    def rows(self, case_id: str) -> list[dict[str, Any]]:
        """Rows of ``lesions.csv``: reference lesions first, then predicted ones."""
        return [les.as_row(case_id) for les in (*self.ref, *self.pred)]


def match_lesions(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing: Sequence[float],
    *,
    iou_threshold: float = 0.1,
    size_bins: Sequence[float] = DEFAULT_SIZE_BINS_MM,
) -> LesionMatching:
    """Find the lesions of both tumour masks and match them one to one (see module docstring).

    Args:
        pred: predicted 3-D tumour mask.
        ref: reference 3-D tumour mask, same shape.
        spacing: voxel size per axis in mm.
        iou_threshold: the IoU in [0, 1] a pair needs to match.
        size_bins: equivalent-radius bin edges in mm.

    Raises:
        ValueError: shapes differ, bad spacing, threshold or bins.
    """
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: {pred.shape} vs {ref.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")
    edges = check_size_bins(size_bins)
    voxel_ml = float(np.prod(check_spacing(spacing, pred.ndim))) / 1000.0
    box = union_box(pred, ref)
    if box is None:
        return LesionMatching((), (), float(iou_threshold), edges)
    lab_r, n_r = label_lesions(ref[box])
    lab_p, n_p = label_lesions(pred[box])
    vol_r = np.bincount(lab_r.ravel(), minlength=n_r + 1)[1:]
    vol_p = np.bincount(lab_p.ravel(), minlength=n_p + 1)[1:]
    both = (lab_r > 0) & (lab_p > 0)
    pair_code = lab_r[both].astype(np.int64) * (n_p + 1) + lab_p[both]
    inter = np.bincount(pair_code, minlength=(n_r + 1) * (n_p + 1)).reshape(n_r + 1, n_p + 1)[1:, 1:]
    union = vol_r[:, None] + vol_p[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros(inter.shape, dtype=np.float64), where=union > 0)
    eligible = (inter > 0) & (iou >= iou_threshold)
    match_r: dict[int, int] = {}
    if eligible.any():
        rows, cols = linear_sum_assignment(np.where(eligible, iou, 0.0), maximize=True)
        match_r = {int(r): int(c) for r, c in zip(rows, cols) if eligible[r, c]}
    match_p = {c: r for r, c in match_r.items()}

    def lesion(side: str, i: int, voxels: int, partner: int | None, pair: tuple[int, int] | None) -> Lesion:
        volume_ml = voxels * voxel_ml
        radius = equivalent_radius_mm(volume_ml * 1000.0)
        pair_iou = pair_dice = 0.0
        if pair is not None:
            r, p = pair
            pair_iou = float(iou[r, p])
            pair_dice = 2.0 * float(inter[r, p]) / float(vol_r[r] + vol_p[p])
        return Lesion(side, i + 1, int(voxels), volume_ml, radius, size_bin(radius, edges),
                      None if partner is None else partner + 1, pair_iou, pair_dice)

    ref_lesions = tuple(
        lesion("ref", r, vol_r[r], match_r.get(r), (r, match_r[r]) if r in match_r else None) for r in range(n_r)
    )
    pred_lesions = tuple(
        lesion("pred", p, vol_p[p], match_p.get(p), (match_p[p], p) if p in match_p else None) for p in range(n_p)
    )
    return LesionMatching(ref_lesions, pred_lesions, float(iou_threshold), edges)
