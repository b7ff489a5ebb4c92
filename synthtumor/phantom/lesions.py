"""Reference lesions: a STAND-IN FOR REAL ANNOTATED TUMOURS, for demos and tests only.

They come from a model of their own, deliberately independent of synthtumor's lesion
generators (sharing nothing with them), so that a segmentation model trained on generated
lesions can be tested on these as if on real tumours. They are not real tumours and claim
no clinical fidelity.

Shape: stochastic Eden (cellular) growth from one seed voxel inside the liver, run in a local
box only. Each step, an empty voxel next to the lesion joins with probability
``1 - prod_i (1 - p_i m(x))^(n_i)``, where ``n_i`` counts its lesion neighbours along axis ``i``,
``p_i = 0.6 min(spacing) / spacing_i`` (so growth is about as fast in mm along every axis) and
``m = exp(g F(x))`` with ``F`` a smooth unit-variance random field (features ``~ 0.6 r``) and
lobulation gain ``g ~ U(0.6, 1.3)``. Growth avoids vessels (it encases them) and other lesions
(2 mm plus a voxel diagonal apart), stays in the liver and stops at the volume of a sphere of radius
``r ~ U(lesion_radius_range)`` mm (or when the liver leaves no room).

Placement: the seed is drawn uniformly among liver points at least ``max(4, 0.6 r)`` mm deep,
at least ``0.5 r + 3`` mm from any vessel of radius >= 2.5 mm and clear of earlier lesions.

Interior, per phase (HU; ``L`` the case's liver value): viable tumour ``L - U(10, 25)`` native,
``L - U(5, 25)`` arterial, ``L - U(30, 60)`` portal, ``L - U(20, 45)`` delayed; an enhancing rim
``U(1.5, 3.5)`` mm thick at ``viable + U(0, 5)`` native, ``L + U(20, 60)`` arterial,
``viable + U(20, 40)`` portal, ``viable + U(10, 25)`` delayed; for the "necrotic" pattern
(probability ``clip((r - 8) / 15, 0, 0.7)``) a core of depth fraction above ``c ~ U(0.45, 0.65)``
(with a wavy border) at ``U(15, 30)``; smooth internal heterogeneity of ``U(4, 10)`` HU.
Patterns: ``solid`` (no rim), ``rim`` (probability 0.6 of the rest) and ``necrotic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from synthtumor.errors import ConfigError
from synthtumor.phantom.geometry import Box, Grid, SmoothField
from synthtumor.phantom.labels import LABELS
from synthtumor.phantom.liver import Liver
from synthtumor.phantom.tubes import Tubes

__all__ = ["ReferenceLesion", "grow_reference_lesions", "lesion_hu"]

_VESSEL_LABELS = [LABELS["portal_vein"], LABELS["hepatic_veins"], LABELS["ivc"]]


@dataclass
class ReferenceLesion:
    """One grown lesion: its box, mask (on the box) and what its interior needs."""

    box: Box
    mask: np.ndarray
    target_radius_mm: float
    pattern: str
    record: dict = field(default_factory=dict)


def _vessel_clearance(points: np.ndarray, vessels: Tubes, min_radius: float = 2.5) -> np.ndarray:
    """Distance (mm) from ``points`` to the surface of vessels thicker than ``min_radius``."""
    big = np.maximum(vessels.r0, vessels.r1) >= min_radius
    if not big.any():
        return np.full(len(points), np.inf)
    samples, radii = [], []
    for a, b, ra, rb in zip(vessels.p0[big], vessels.p1[big], vessels.r0[big], vessels.r1[big]):
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / 1.5)))
        t = np.linspace(0, 1, k + 1)[:, None]
        samples.append(a + t * (b - a))
        radii.append(ra + t[:, 0] * (rb - ra))
    tree = cKDTree(np.concatenate(samples))
    radii = np.concatenate(radii)
    dist, idx = tree.query(points, k=1)
    return dist - radii[idx]


def grow_reference_lesions(grid: Grid, anatomy: np.ndarray, liver: Liver, vessels: Tubes, n: int,
                           radius_range: tuple[float, float], rng: np.random.Generator
                           ) -> list[ReferenceLesion]:
    """Place and grow ``n`` reference lesions and paint them (label ``tumour``) in ``anatomy``.

    Raises:
        ConfigError: the lesions would fill over a quarter of the liver, or the liver has no
            room left for the next one.
    """
    if n <= 0:
        return []
    dm = liver.depth
    points = dm.origin + np.argwhere(dm.depth > 0) * dm.step
    depth = dm.depth[dm.depth > 0]
    clearance = _vessel_clearance(points, vessels)
    radii = rng.uniform(*radius_range, size=n)
    planned_ml = float(np.sum(4.0 / 3.0 * np.pi * radii**3)) / 1000.0
    if planned_ml > 0.25 * liver.volume_ml:
        raise ConfigError(
            f"{n} reference lesions of radius {radius_range[0]:g}-{radius_range[1]:g} mm would fill "
            f"{planned_ml:.0f} mL, over a quarter of the {liver.volume_ml:.0f} mL liver.",
            fix="lower n_lesions or lesion_radius_range.",
        )
    lesions: list[ReferenceLesion] = []
    centres: list[tuple[np.ndarray, float]] = []
    for i, radius in enumerate(radii.tolist()):
        seed = None
        for relax in (1.0, 0.7, 0.5, 0.3):
            ok = (depth >= relax * max(4.0, 0.6 * radius)) & (clearance >= relax * (0.5 * radius + 3.0))
            for c, r in centres:
                ok &= np.linalg.norm(points - c, axis=1) >= r + relax * radius + 4.0
            if ok.any():
                seed = points[rng.choice(np.flatnonzero(ok))]
                break
        if seed is None:
            raise ConfigError(
                f"the phantom liver has no room for reference lesion {i + 1} of {n} "
                f"(radius {radius:.1f} mm).",
                fix="lower n_lesions or lesion_radius_range.",
            )
        lesion = _grow(grid, anatomy, seed, radius, rng)
        lesions.append(lesion)
        centres.append((np.asarray(lesion.record["centre_mm"]), lesion.record["equivalent_radius_mm"]))
    return lesions


def _grow(grid: Grid, anatomy: np.ndarray, seed: np.ndarray, radius: float, rng: np.random.Generator
          ) -> ReferenceLesion:
    half = 1.7 * radius + 6.0
    box = grid.box(seed - half, seed + half)
    view = anatomy[box.slices]
    blocked = np.isin(view, _VESSEL_LABELS)
    blocked = ndi.binary_dilation(blocked, np.ones((3, 3, 3), bool))
    # keep 2 mm plus a voxel diagonal from other lesions, so they never touch (26-connectivity)
    gap = 2.0 + float(np.linalg.norm(grid.spacing))
    wide = grid.box(seed - half - gap, seed + half + gap)
    near = ndi.distance_transform_edt(anatomy[wide.slices] != LABELS["tumour"], sampling=grid.spacing) <= gap
    near_tumour = near[tuple(slice(a - w, b - w) for a, b, w in zip(box.lo, box.hi, wide.lo))]
    allowed = (view == LABELS["liver"]) & ~blocked & ~near_tumour
    gain = rng.uniform(0.6, 1.3)
    lobes = SmoothField(rng, seed - half, seed + half, max(3.0, 0.6 * radius))
    growth = np.exp(gain * lobes.on_box(grid, box))
    p_axis = [0.6 * min(grid.spacing) / s for s in grid.spacing]
    target = max(1, int(round(4.0 / 3.0 * np.pi * radius**3 / grid.voxel_mm3)))

    mask = np.zeros(box.shape, dtype=bool)
    start = tuple(np.clip(grid.index_of(seed[None])[0] - np.asarray(box.lo), 0, np.asarray(box.shape) - 1))
    if not allowed[start]:
        candidates = np.argwhere(allowed)
        start = tuple(candidates[np.argmin(np.linalg.norm(candidates - np.asarray(start), axis=1))])
    mask[start] = True
    count = 1
    for _ in range(int(8 * radius / (0.6 * min(grid.spacing))) + 20):
        if count >= target:
            break
        keep_out = np.ones(box.shape, dtype=np.float32)
        for axis, p in enumerate(p_axis):
            n_axis = _neighbours(mask, axis)
            keep_out *= (1.0 - np.clip(p * growth, 0.0, 1.0)) ** n_axis
        frontier = allowed & ~mask & (keep_out < 1.0)
        if not frontier.any():
            break
        draw = rng.uniform(size=box.shape)
        accept = frontier & (draw < 1.0 - keep_out)
        n_new = int(np.count_nonzero(accept))
        if count + n_new > target:
            idx = np.flatnonzero(accept)
            keep = idx[np.argsort(draw.ravel()[idx])[: target - count]]
            accept = np.zeros(box.shape, dtype=bool)
            accept.ravel()[keep] = True
            n_new = target - count
        mask |= accept
        count += n_new
    mask = ndi.binary_fill_holes(mask) & allowed
    view[mask] = LABELS["tumour"]

    volume_mm3 = float(np.count_nonzero(mask)) * grid.voxel_mm3
    centre = grid.world_of(np.argwhere(mask).mean(axis=0)[None] + np.asarray(box.lo))[0]
    p_necrotic = float(np.clip((radius - 8.0) / 15.0, 0.0, 0.7))
    u = rng.uniform()
    pattern = "necrotic" if u < p_necrotic else ("rim" if rng.uniform() < 0.6 else "solid")
    record = {
        "centre_mm": [round(float(c), 2) for c in centre],
        "equivalent_radius_mm": round(float((3.0 * volume_mm3 / (4.0 * np.pi)) ** (1 / 3)), 2),
        "volume_ml": round(volume_mm3 / 1000.0, 3),
        "target_radius_mm": round(radius, 2),
        "pattern": pattern,
    }
    return ReferenceLesion(box, mask, radius, pattern, record)


def _neighbours(mask: np.ndarray, axis: int) -> np.ndarray:
    """Number (0-2, float32) of the two neighbours along ``axis`` that are in ``mask``."""
    padded = np.pad(mask, [(1, 1) if a == axis else (0, 0) for a in range(3)]).astype(np.float32)
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, -2), slice(2, None)
    return padded[tuple(lo)] + padded[tuple(hi)]


def lesion_hu(grid: Grid, lesion: ReferenceLesion, phase: str, liver_hu: float,
              rng: np.random.Generator) -> np.ndarray:
    """HU of the lesion's voxels (float32 on its box; meaningful where ``lesion.mask``).

    Also records the drawn values (``hu_viable``, ``hu_rim``, ``hu_core``) in ``lesion.record``.
    """
    viable = liver_hu - {"native": rng.uniform(10, 25), "arterial": rng.uniform(5, 25),
                         "portal": rng.uniform(30, 60), "delayed": rng.uniform(20, 45)}[phase]
    rim = {"native": viable + rng.uniform(0, 5), "arterial": liver_hu + rng.uniform(20, 60),
           "portal": viable + rng.uniform(20, 40), "delayed": viable + rng.uniform(10, 25)}[phase]
    rim_mm = rng.uniform(1.5, 3.5)
    core_hu = rng.uniform(15, 30)
    core_cut = rng.uniform(0.45, 0.65)
    hetero = rng.uniform(4, 10)
    lo = grid.world_of(np.asarray(lesion.box.lo)[None])[0] - 5
    hi = grid.world_of(np.asarray(lesion.box.hi)[None])[0] + 5
    texture = SmoothField(rng, lo, hi, 4.0).on_box(grid, lesion.box)
    wobble = SmoothField(rng, lo, hi, max(3.0, 0.4 * lesion.target_radius_mm)).on_box(grid, lesion.box)

    depth = ndi.distance_transform_edt(np.pad(lesion.mask, 1), sampling=grid.spacing)[1:-1, 1:-1, 1:-1]
    hu = np.full(lesion.box.shape, viable, dtype=np.float32) + np.float32(hetero) * texture
    if lesion.pattern in ("rim", "necrotic"):
        hu[depth <= rim_mm] = rim + hetero * 0.5 * texture[depth <= rim_mm]
    if lesion.pattern == "necrotic":
        rel = depth / max(float(depth.max()), 1e-6)
        core = (rel + 0.12 * wobble) > core_cut
        hu[core] = core_hu + 2.0 * texture[core]
    lesion.record.update({"hu_viable": round(float(viable), 1),
                          "hu_rim": round(float(rim), 1) if lesion.pattern != "solid" else None,
                          "hu_core": round(float(core_hu), 1) if lesion.pattern == "necrotic" else None})
    return hu
