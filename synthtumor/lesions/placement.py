"""Where a lesion may go: inside the organ, clear of vessels, of `avoid` and of other lesions.

Candidates are the organ's placement blocks (see :mod:`synthtumor.anatomy`); a centre is a
block centre plus a uniform jitter within its block, ``c = b + A (U(-1/2, 1/2)^3 * step)``. A
block is valid for a lesion of maximum extent ``E`` (mm) when the lower bounds of its distances
satisfy

* organ boundary: ``>= E + boundary_margin_mm`` (or ``>= 0.25 E`` for a subcapsular lesion,
  which is then clipped to the organ);
* vessels: ``>= v E + vessel_clearance_mm + h`` (``h`` half a voxel diagonal, for the nearest-
  neighbour resampling of a mass effect; ``v = vessel_reach``, 1 by default: the whole lesion
  clear of vessels; below 1 the lesion may wrap around vessels and the renderer removes its
  voxels within the clearance exactly; such a lesion that finds no room tries again with the
  smallest reach, ``MIN_VESSEL_REACH`` (0.1), before the ``on_no_room`` policy: a large lesion
  in a vessel-rich organ wraps the vessels rather than vanishing, see :func:`wrapping_fallback`);
* existing tumours and ``avoid``: ``>= E + min_gap_mm``, or ``>= Z`` (the mass-effect zone radius)
  when the lesion pushes its surroundings;
* earlier lesions of the same call: centre distance ``>= max(E + E_j + gap, Z + E_j, Z_j + E)``
  (only the zone terms when ``allow_confluent``).

The bounds that grow with ``E`` (boundary, vessels, the gap to existing tumours) give each block
the largest extent it admits; blocks are sorted by it once per rule set and preparation, so the
blocks that can hold a lesion of extent ``E`` are a prefix of that order, found by bisection.
Centres are drawn uniformly from the prefix, or with probability proportional to the location
prior's weight (rejection sampling against the largest weight), and every draw is checked
exactly against all the rules (the zone and earlier lesions included); after a few batches of
rejections the whole prefix is checked at once. Because the bounds are conservative, a lesion
placed here keeps its clearances exactly, with no full-resolution distance transform.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from synthtumor.anatomy import Prepared
from synthtumor.config_rules import ConfigError, bounded, check_fields, number

__all__ = ["PlacementRules", "PlacedLesion", "draw_centre", "prior_weights", "wrapping_fallback", "PRIOR_SIDES",
           "MIN_VESSEL_REACH"]

#: Location-prior keys and the world axis / sign they select (RAS+).
PRIOR_SIDES = {
    "right": (0, 1), "left": (0, -1), "anterior": (1, 1),
    "posterior": (1, -1), "superior": (2, 1), "inferior": (2, -1),
}
#: The smallest ``vessel_reach`` (the fraction of a lesion's extent kept clear of vessels).
MIN_VESSEL_REACH = 0.1
#: Sizes of the batches of candidate blocks drawn before every admitted block is checked.
_BATCHES = (8, 32, 128, 256, 256)


def _prior(value: Any, name: str, lo: None, hi: None) -> dict[str, float]:
    """A location prior: weights >= 0 by organ half (keys from ``PRIOR_SIDES``), or empty."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must map organ halves to weights >= 0, got {value!r}.",
                          fix=f"use keys from {sorted(PRIOR_SIDES)}.")
    for key in value:
        if key not in PRIOR_SIDES:
            raise ConfigError(f"{name}: unknown organ half {key!r}.", fix=f"use keys from {sorted(PRIOR_SIDES)}.")
    return {key: number(weight, f"{name}.{key}", 0.0) for key, weight in value.items()}


@dataclass(frozen=True)
class PlacementRules:
    """Placement constraints (mm) and what to do when nothing fits.

    Attributes:
        boundary_margin_mm: minimum distance from the lesion to the organ surface (mm).
        subcapsular_prob: probability that a lesion may reach the capsule instead.
        vessel_clearance_mm: minimum distance from any lesion voxel to a vessel voxel (mm).
        min_gap_mm: minimum gap to existing tumours, ``avoid`` and other new lesions (mm).
        allow_confluent: new lesions may touch and overlap each other.
        on_no_room: ``shrink`` (retry smaller, down to ``min_radius_mm``), ``skip`` or ``error``.
        min_radius_mm: the smallest radius ``shrink`` goes down to (mm).
        location_prior: weights by organ half, e.g. ``{"right": 2, "left": 1}`` (keys from
            ``PRIOR_SIDES``; halves split at the organ's median coordinate). Empty: uniform.
        vessel_reach: the fraction of the lesion's extent placement keeps clear of vessels, in
            [0.1, 1]; below 1 lesions wrap around vessels (clearance then enforced voxel by voxel).
    """

    boundary_margin_mm: float = bounded(2.0, 0.0)
    subcapsular_prob: float = bounded(0.1, 0.0, 1.0)
    vessel_clearance_mm: float = bounded(2.0, 0.0)
    min_gap_mm: float = bounded(2.0, 0.0)
    allow_confluent: bool = bounded(False, kind="bool")
    on_no_room: str = bounded("shrink", kind="choice", options=("shrink", "skip", "error"))
    min_radius_mm: float = bounded(2.5, 0.0, low_open=True)
    location_prior: dict[str, float] = bounded(kind=_prior, default_factory=dict)
    vessel_reach: float = bounded(1.0, MIN_VESSEL_REACH, 1.0)

    def __post_init__(self) -> None:
        """Every value is checked here, however the rules are built (:func:`bounded` fields)."""
        check_fields(self, "placement")


def wrapping_fallback(rules: PlacementRules) -> PlacementRules | None:
    """The rules a lesion that may wrap vessels (``vessel_reach`` below 1) tries when its own
    leave no room: the same with ``MIN_VESSEL_REACH``. None for lesions kept clear of vessels
    (reach 1, every shipped preset) or already at the smallest reach. A fitted preset whose
    lesions abut vessels takes a reach of 0.3; its largest lesions, whose extent bound also
    counts the sub-nodules and the infiltrative margin, would otherwise often find no centre
    that far from every vessel (on the phantom, 3 to 4 of 8 draws of 31 mm radius)."""
    if MIN_VESSEL_REACH < rules.vessel_reach < 1.0:
        return replace(rules, vessel_reach=MIN_VESSEL_REACH)
    return None


@dataclass(frozen=True)
class PlacedLesion:
    """A lesion already placed in this call: centre (mm), extent and zone radius (mm)."""

    centre_mm: np.ndarray
    extent_mm: float
    zone_mm: float


def prior_weights(prepared: Prepared, prior: dict[str, float]) -> np.ndarray | None:
    """Per-block weights of a location prior, or None for uniform."""
    if not prior:
        return None
    centres = prepared.block_centres_mm
    weights = np.ones(len(centres))
    for key, weight in prior.items():
        axis, sign = PRIOR_SIDES[key]
        split = np.median(centres[:, axis])
        weights[(centres[:, axis] - split) * sign >= 0] *= weight
    if weights.max() <= 0:
        raise ConfigError("placement.location_prior gives every region weight 0.")
    return weights


def _pair_limits(
    placed: list[PlacedLesion], extent: float, zone: float, rules: PlacementRules, half_block: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Earlier lesions' centres (m, 3) and the squared centre distances (mm^2) a new lesion
    needs from them (None when there are none)."""
    if not placed:
        return None
    others = np.array([o.centre_mm for o in placed], dtype=float)
    need = []
    for o in placed:
        n = max(zone + o.extent_mm, o.zone_mm + extent)
        if not rules.allow_confluent:
            n = max(n, extent + o.extent_mm + rules.min_gap_mm)
        # the drawn centre may sit half a block diagonal from its block centre
        need.append((n + half_block) ** 2 if n > 0 else 0.0)
    return others, np.array(need)


def _distance_needs(extent: float, zone: float, subcapsular: bool, rules: PlacementRules,
                    half_voxel: float) -> tuple[float, float, float]:
    """The lower bounds (mm) a block's distances to the organ boundary, the vessels and the
    existing tumours must reach for a lesion of ``extent`` and mass-effect ``zone``."""
    boundary = 0.25 * extent if subcapsular else extent + rules.boundary_margin_mm
    vessel = rules.vessel_reach * extent + rules.vessel_clearance_mm + half_voxel
    return boundary, vessel, max(extent + rules.min_gap_mm, zone)


def _valid(
    prepared: Prepared, idx: np.ndarray | None, extent: float, zone: float, subcapsular: bool,
    rules: PlacementRules, pairs: tuple[np.ndarray, np.ndarray] | None, half_voxel: float,
) -> np.ndarray:
    """Which blocks ``idx`` (None: all) are valid centres; the distance bounds are checked first,
    and the centre distances to earlier lesions (``pairs``, from :func:`_pair_limits`) only for
    the blocks that pass them. ``half_voxel`` is half a voxel diagonal (mm)."""
    every = slice(None) if idx is None else idx
    need_boundary, need_vessel, need_occupied = _distance_needs(extent, zone, subcapsular, rules, half_voxel)
    ok = prepared.block_dist_boundary_mm[every] >= need_boundary
    ok &= prepared.block_dist_vessel_mm[every] >= need_vessel
    ok &= prepared.block_dist_occupied_mm[every] >= need_occupied
    if pairs is None:
        return ok
    survivors = np.flatnonzero(ok)
    if survivors.size == 0:
        return ok
    others, need2 = pairs
    centres = prepared.block_centres_mm[survivors if idx is None else idx[survivors]]
    if survivors.size <= 4096:  # a batch: all pairs at once
        diff = centres[:, None, :] - others[None, :, :]
        keep = (np.einsum("ijk,ijk->ij", diff, diff) >= need2).all(axis=1)
    else:  # every block: one earlier lesion at a time, on the blocks still standing
        alive = np.arange(survivors.size)
        for centre, n2 in zip(others, need2):
            diff = centres[alive] - centre
            alive = alive[np.einsum("ij,ij->i", diff, diff) >= n2]
        keep = np.zeros(survivors.size, dtype=bool)
        keep[alive] = True
    ok[survivors[~keep]] = False
    return ok


def _first_valid(
    prepared: Prepared, idx: np.ndarray, accept: np.ndarray | None, extent: float, zone: float,
    subcapsular: bool, rules: PlacementRules, pairs: tuple[np.ndarray, np.ndarray] | None, half_voxel: float,
) -> int | None:
    """The first block of ``idx`` that :func:`_valid` (and ``accept``, where given) passes, or None.

    The fast path beside its reference: the same test, one candidate at a time in plain Python.
    For the first batch of a draw (8 candidates, of which the first usually passes) a dozen
    whole-batch numpy calls cost more than checking one (measured: about 7 us here against
    45 us through :func:`_valid`, on every lesion placed). :func:`_valid` stays the reference,
    and what the larger batches and the whole-prefix check use;
    ``tests/lesions/test_placement.py`` ties the two (same block on seeded cases with vessels,
    subcapsular and confluent lesions, partial vessel reach and exact float32 ties). Each bound
    is compared in its array's precision, as numpy compares an array with a Python float (the
    threshold rounded to the array's dtype).
    """
    arrays = (prepared.block_dist_boundary_mm, prepared.block_dist_vessel_mm, prepared.block_dist_occupied_mm)
    boundary, vessel, occupied = arrays
    needs = _distance_needs(extent, zone, subcapsular, rules, half_voxel)
    need_boundary, need_vessel, need_occupied = (array.dtype.type(need) for array, need in zip(arrays, needs))
    others = pairs[0].tolist() if pairs is not None else []
    need2 = pairs[1].tolist() if pairs is not None else []
    flags = accept.tolist() if accept is not None else None
    for position, block in enumerate(idx.tolist()):
        if flags is not None and not flags[position]:
            continue
        if boundary[block] < need_boundary or vessel[block] < need_vessel or occupied[block] < need_occupied:
            continue
        x, y, z = prepared.block_centres_mm[block].tolist()
        for (ox, oy, oz), n2 in zip(others, need2):
            dx, dy, dz = x - ox, y - oy, z - oz
            if dx * dx + dy * dy + dz * dz < n2:
                break
        else:
            return block
    return None


def _admitted(prepared: Prepared, subcapsular: bool, rules: PlacementRules) -> tuple[np.ndarray, np.ndarray, float]:
    """Blocks in decreasing order of the largest extent (mm) their distance bounds admit.

    Returns ``(order, -admits, half_voxel)``: block indices, minus the extents in that order
    (increasing, for bisection), and half a voxel diagonal (mm). Cached on the preparation per
    rule set.
    """
    key = (subcapsular, rules.boundary_margin_mm, rules.vessel_clearance_mm, rules.min_gap_mm, rules.vessel_reach)
    orders = prepared.__dict__.setdefault("placement_orders", {})  # absent from older pickles
    cached = orders.get(key)
    if cached is None:
        half_voxel = prepared.voxel_half_diagonal_mm
        if subcapsular:
            admits = prepared.block_dist_boundary_mm / 0.25
        else:
            admits = prepared.block_dist_boundary_mm - rules.boundary_margin_mm
        admits = np.minimum(admits, (prepared.block_dist_vessel_mm - (rules.vessel_clearance_mm + half_voxel))
                            / rules.vessel_reach)
        admits = np.minimum(admits, prepared.block_dist_occupied_mm - rules.min_gap_mm)
        order = np.argsort(-admits, kind="stable")
        cached = orders[key] = (order, -admits[order], half_voxel)
    return cached


def draw_centre(
    prepared: Prepared,
    extent_mm: float,
    zone_mm: float,
    subcapsular: bool,
    rules: PlacementRules,
    placed: list[PlacedLesion],
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
) -> np.ndarray | None:
    """Draw a valid centre (world RAS, mm) for a lesion, or None if there is no room.

    Args:
        prepared: the prepared case.
        extent_mm: upper bound of the lesion's radius (mm).
        zone_mm: radius of its mass-effect zone (mm), 0 for none.
        subcapsular: whether it may reach the capsule.
        rules: placement constraints.
        placed: lesions already placed in this call.
        rng: the random generator.
        weights: per-block location-prior weights (None: uniform).
    """
    order, minus_admits, half_voxel = _admitted(prepared, subcapsular, rules)
    # the blocks whose bounds admit this extent (rounding at a tie is settled by _valid below)
    n = int(np.searchsorted(minus_admits, -(extent_mm * (1 - 1e-9)), side="right"))
    if n == 0:
        return None
    chosen = None
    pairs = _pair_limits(placed, extent_mm, zone_mm, rules, prepared.block_half_diagonal_mm)
    top = weights.max() if weights is not None else None
    for size in _BATCHES:  # small batches first: the first draw is usually valid
        idx = order[(rng.random(size) * n).astype(np.intp)]  # uniform on 0..n-1
        accept = rng.random(size) * top < weights[idx] if weights is not None else None
        if size == _BATCHES[0]:  # one candidate at a time: usually the first is the answer
            chosen = _first_valid(prepared, idx, accept, extent_mm, zone_mm, subcapsular, rules, pairs, half_voxel)
            if chosen is not None:
                break
            continue
        ok = _valid(prepared, idx, extent_mm, zone_mm, subcapsular, rules, pairs, half_voxel)
        if accept is not None:
            ok &= accept
        hits = np.flatnonzero(ok)
        if hits.size:
            chosen = int(idx[hits[0]])
            break
    if chosen is None:
        candidates = order[:n]
        valid = candidates[_valid(prepared, candidates, extent_mm, zone_mm, subcapsular, rules, pairs, half_voxel)]
        if valid.size == 0:
            return None
        p = None
        if weights is not None:
            w = weights[valid]
            if w.sum() <= 0:
                return None
            p = w / w.sum()
        chosen = int(rng.choice(np.sort(valid), p=p))
    jitter_vox = (rng.random(3) - 0.5) * prepared.block_step
    return prepared.block_centres_mm[chosen] + prepared.case.affine[:3, :3] @ jitter_vox
