"""The scans calibration draws into: each annotated scan cut to its organ, its tumours refilled.

A scan that kept its annotated tumours would offer calibration no room where they were (and
measure them as lesions); :func:`refill_tumours` copies parenchyma over them from a nearby patch
of the same scan, keeping its noise texture and vessels, so calibration draws as into a healthy
scan (:func:`calibration_case`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from synthtumor.anatomy import Prepared, prepare_case
from synthtumor.case import Case

__all__ = ["REFILL_REACH_MM", "CalibrationCase", "calibration_case", "refill_tumours"]


@dataclass(eq=False)
class CalibrationCase:
    """An annotated scan cut to its organ (plus a margin), its tumours refilled with parenchyma, prepared.

    Attributes:
        prepared: the cut, refilled case, prepared for placement (no tumour mask; ``avoid`` is
            the dataset's own avoid mask only).
        noise_sigma_hu: its noise (HU).
        refilled_voxels: voxels whose HU (and vessel label) were replaced (:func:`refill_tumours`).
    """

    prepared: Prepared
    noise_sigma_hu: float
    refilled_voxels: int = 0


#: Voxels within this distance (mm) of an annotated tumour are refilled with it (its blurred edge).
REFILL_REACH_MM = 2.0
#: Directions (a Fibonacci sphere) and step (mm) of the shifts tried for a tumour's source patch.
_REFILL_DIRECTIONS = 64
_REFILL_STEP_MM = 2.0


def _directions(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(1.0 - z * z)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _source_shift(points: np.ndarray, surface: np.ndarray, allowed: np.ndarray,
                  spacing: np.ndarray) -> np.ndarray | None:
    """The shortest voxel shift (64 directions, 2 mm steps) moving every point into ``allowed``."""
    shape = np.asarray(allowed.shape)
    reach = float(np.linalg.norm(shape * spacing))
    sparse = surface[:: max(1, len(surface) // 256)]  # a quick first test for large tumours
    seen = set()
    for dist in np.arange(_REFILL_STEP_MM, reach, _REFILL_STEP_MM):
        for u in _directions(_REFILL_DIRECTIONS):
            shift = np.rint(dist * u / spacing).astype(int)
            key = tuple(shift.tolist())
            if key in seen or not any(key):
                continue
            seen.add(key)
            for pts in (sparse, surface, points):  # the surface first: most shifts fail there, cheaply
                moved = pts + shift
                if (moved < 0).any() or (moved >= shape).any() or not allowed[tuple(moved.T)].all():
                    break
            else:
                return shift
    return None


def refill_tumours(image: np.ndarray, organ: np.ndarray, tumour: np.ndarray, vessels: np.ndarray | None,
                   avoid: np.ndarray | None, spacing, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Replace every annotated tumour by parenchyma, so that calibration draws into the scan as
    into a healthy one (the tumours neither block placement nor are ever measured).

    The refilled region is each tumour plus the organ voxels within ``REFILL_REACH_MM`` of it
    (its blurred edge). Each of its 26-connected parts is copied, HU and vessel label together,
    from the nearest patch of the same shape shifted wholly into tumour-free, avoid-free organ
    (shifts along 64 directions in 2 mm steps, shortest first), so the copy keeps the scan's own
    noise texture and vessels. A part with no such patch gets the organ's robust median HU plus
    Gaussian noise of the organ's robust sigma on its non-vessel voxels (``seed``).

    Returns:
        ``(image, vessels, refilled)``: new arrays (the inputs are not modified) and the
        refilled region's mask.
    """
    spacing = np.asarray(spacing, dtype=float)
    tumour = np.asarray(tumour, dtype=bool)
    near = ndi.distance_transform_edt(~tumour, sampling=spacing) <= REFILL_REACH_MM
    region = tumour | (near & organ)
    image = np.array(image, dtype=np.float32, copy=True)
    vessels = None if vessels is None else vessels.copy()
    allowed = organ & ~region
    if avoid is not None:
        allowed &= ~avoid
    labels, _ = ndi.label(region, structure=np.ones((3, 3, 3), bool))
    parenchyma = allowed if vessels is None else allowed & ~vessels
    values = image[parenchyma] if parenchyma.any() else image[organ & ~region]
    median = float(np.median(values)) if values.size else 0.0
    sigma = 1.4826 * float(np.median(np.abs(values - median))) if values.size else 0.0
    rng = np.random.default_rng(seed)
    source_image = image.copy()
    source_vessels = None if vessels is None else vessels.copy()
    for index, obj in enumerate(ndi.find_objects(labels), start=1):
        part = labels[obj] == index
        offset = np.asarray([s.start for s in obj])
        points = np.argwhere(part) + offset
        surface = np.argwhere(part & ~ndi.binary_erosion(part)) + offset
        shift = _source_shift(points, surface, allowed, spacing)
        at = tuple(points.T)
        if shift is not None:
            source = tuple((points + shift).T)
            image[at] = source_image[source]
            if vessels is not None:
                vessels[at] = source_vessels[source]
        else:
            keep = vessels[at] if vessels is not None else np.zeros(len(points), bool)
            fill = tuple(points[~keep].T)
            image[fill] = median + sigma * rng.standard_normal(int((~keep).sum())).astype(np.float32)
    return image, vessels, region


def calibration_case(case: Case, margin_mm: float = 15.0, seed: int = 0) -> CalibrationCase:
    """Crop ``case`` to its organ's box grown by ``margin_mm``, refill its annotated tumours with
    parenchyma (:func:`refill_tumours`: organ again, free for placement) and prepare it.

    A scan that kept its tumours, even as ``avoid``, would have no room for the largest drawn
    lesions, which placement then skips: calibration would see smaller, paler lesions than a
    healthy scan receives, and set the contrast too dark.
    """
    idx = np.argwhere(case.organ)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    grow = np.ceil(margin_mm / np.asarray(case.spacing)).astype(int)
    lo, hi = np.maximum(lo - grow, 0), np.minimum(hi + grow, case.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    affine = case.affine.copy()
    affine[:3, 3] += affine[:3, :3] @ lo
    organ = case.organ[box].copy()
    image = np.ascontiguousarray(case.image[box])
    vessels = None if case.vessels is None else case.vessels[box].copy()
    avoid = None if case.avoid is None else case.avoid[box].copy()
    refilled = 0
    if case.tumor is not None and case.tumor[box].any():
        tumour = case.tumor[box]
        organ |= tumour
        image, vessels, region = refill_tumours(image, organ, tumour, vessels, avoid, case.spacing, seed)
        refilled = int(region.sum())
    cut = Case.trusted(image=image, affine=affine, case_id=case.case_id, organ=organ, vessels=vessels,
                       tumor=None, avoid=avoid, phase=case.phase)
    prepared = prepare_case(cut)
    return CalibrationCase(prepared, float(prepared.noise_sigma_hu), refilled)
