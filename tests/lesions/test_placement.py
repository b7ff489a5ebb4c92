"""Placement: the two ways of checking earlier lesions agree with a plain pairwise check."""

from __future__ import annotations

import numpy as np

from synthtumor.generators import HeuristicGenerator
from synthtumor.lesions import placement
from synthtumor.lesions.placement import PlacedLesion, PlacementRules

from tests.conftest import blob_case


def test_all_blocks_and_batches_agree_with_pairwise_distances():
    case = blob_case()
    prepared = HeuristicGenerator.from_preset("liver_metastasis").prepare(case)
    rng = np.random.default_rng(0)
    centres = prepared.block_centres_mm
    placed = [PlacedLesion(centres[i], float(rng.uniform(3, 10)), float(rng.choice([0.0, 15.0])))
              for i in rng.choice(len(centres), 6, replace=False)]
    rules = PlacementRules(min_gap_mm=2.0)
    half = prepared.voxel_half_diagonal_mm
    pairs = placement._pair_limits(placed, 4.0, 0.0, rules, prepared.block_half_diagonal_mm)
    every = placement._valid(prepared, None, 4.0, 0.0, False, rules, pairs, half)
    assert len(centres) > 4096  # the one-lesion-at-a-time path
    batched = np.concatenate([
        placement._valid(prepared, idx, 4.0, 0.0, False, rules, pairs, half)
        for idx in np.array_split(np.arange(len(centres)), 8)
    ])
    np.testing.assert_array_equal(every, batched)
    # plain reference
    ok = (prepared.block_dist_boundary_mm >= 4.0 + rules.boundary_margin_mm) \
        & (prepared.block_dist_vessel_mm >= 4.0 + rules.vessel_clearance_mm + half) \
        & (prepared.block_dist_occupied_mm >= 4.0 + rules.min_gap_mm)
    for other in placed:
        need = max(other.zone_mm + 4.0, 4.0 + other.extent_mm + rules.min_gap_mm) + prepared.block_half_diagonal_mm
        ok &= np.linalg.norm(centres - other.centre_mm, axis=1) >= need
    np.testing.assert_array_equal(every, ok)
    assert 0 < every.sum() < len(centres)


def test_one_at_a_time_check_picks_the_first_block_the_batch_check_passes():
    # the fast path (_first_valid, plain Python) against its reference (_valid, numpy) on a case
    # with vessels: subcapsular and confluent lesions, partial vessel reach, location-prior
    # acceptance and thresholds at exact ties (a float32 distance equal to the rounded bound)
    prepared = HeuristicGenerator.from_preset("liver_metastasis").prepare(blob_case(vessels=True))
    rng = np.random.default_rng(7)
    centres = prepared.block_centres_mm
    half = prepared.voxel_half_diagonal_mm
    found = vessel_only = 0
    boundary = prepared.block_dist_boundary_mm
    roomy = np.flatnonzero((boundary > 1) & (prepared.block_dist_vessel_mm > boundary + 2)
                           & (prepared.block_dist_occupied_mm > boundary + 2))
    assert roomy.size
    for trial in range(600):
        rules = PlacementRules(boundary_margin_mm=float(rng.uniform(0, 3)),
                               vessel_clearance_mm=float(rng.uniform(0, 3)),
                               min_gap_mm=float(rng.uniform(0, 3)), allow_confluent=bool(trial % 5 == 0),
                               vessel_reach=1.0 if trial % 7 else float(rng.uniform(0.1, 1.0)))
        placed = [PlacedLesion(centres[rng.integers(len(centres))] + rng.normal(size=3), float(rng.uniform(1, 8)),
                               float(rng.choice([0.0, 12.0]))) for _ in range(int(rng.integers(0, 12)))]
        idx = rng.integers(0, len(centres), 8)
        subcapsular = bool(trial % 3 == 0)
        extent = float(rng.uniform(0.5, 8.0))
        if trial % 4 == 1:  # the boundary bound a quarter float32 step above the first block's distance
            idx[0] = roomy[trial % len(roomy)]
            distance = prepared.block_dist_boundary_mm[idx[0]]
            bound = float(distance) + 0.25 * float(np.spacing(distance))  # rounds to it in float32
            rules = PlacementRules(boundary_margin_mm=0.0, vessel_clearance_mm=0.0, min_gap_mm=0.0)
            placed, subcapsular, extent = [], False, bound
        zone = float(rng.choice([0.0, 2.5 * extent]))
        accept = rng.random(8) < 0.7 if trial % 2 else None
        pairs = placement._pair_limits(placed, extent, zone, rules, prepared.block_half_diagonal_mm)
        ok = placement._valid(prepared, idx, extent, zone, subcapsular, rules, pairs, half)
        if accept is not None:
            ok &= accept
        hits = np.flatnonzero(ok)
        expected = int(idx[hits[0]]) if hits.size else None
        found += expected is not None
        need_boundary, need_vessel, _ = placement._distance_needs(extent, zone, subcapsular, rules, half)
        vessel_only += int(((boundary[idx] >= need_boundary)
                            & (prepared.block_dist_vessel_mm[idx] < need_vessel)).sum())
        assert placement._first_valid(prepared, idx, accept, extent, zone, subcapsular, rules, pairs, half) == expected
    assert 50 < found < 550  # both outcomes exercised
    assert vessel_only > 100  # candidates that only the vessel bound turns away


def _static_ok(prepared, extent, subcapsular, rules):
    need_boundary = 0.25 * extent if subcapsular else extent + rules.boundary_margin_mm
    return (prepared.block_dist_boundary_mm >= need_boundary) \
        & (prepared.block_dist_vessel_mm >= extent + rules.vessel_clearance_mm + prepared.voxel_half_diagonal_mm) \
        & (prepared.block_dist_occupied_mm >= extent + rules.min_gap_mm)


def test_admitted_prefix_is_exactly_the_blocks_whose_bounds_hold():
    prepared = HeuristicGenerator.from_preset("liver_metastasis").prepare(blob_case())
    rules = PlacementRules(boundary_margin_mm=3.0, vessel_clearance_mm=1.5, min_gap_mm=2.0)
    for subcapsular in (False, True):
        order, minus_admits, _ = placement._admitted(prepared, subcapsular, rules)
        assert np.all(np.diff(minus_admits) >= 0)
        for extent in (0.5, 2.0, 4.0, 7.5, 12.0, 40.0):
            n = int(np.searchsorted(minus_admits, -extent * (1 - 1e-9), side="right"))
            prefix = np.zeros(len(order), bool)
            prefix[order[:n]] = True
            np.testing.assert_array_equal(prefix, _static_ok(prepared, extent, subcapsular, rules))


def test_draws_are_valid_and_cover_the_valid_blocks():
    # every drawn centre's block passes every rule, and the draws reach all over the valid set
    prepared = HeuristicGenerator.from_preset("liver_metastasis").prepare(blob_case())
    rules = PlacementRules(min_gap_mm=2.0)
    rng = np.random.default_rng(3)
    placed = [PlacedLesion(prepared.block_centres_mm[0], 5.0, 0.0)]
    pairs = placement._pair_limits(placed, 3.0, 0.0, rules, prepared.block_half_diagonal_mm)
    valid = placement._valid(prepared, None, 3.0, 0.0, False, rules, pairs, prepared.voxel_half_diagonal_mm)
    hits = set()
    for _ in range(400):
        centre = placement.draw_centre(prepared, 3.0, 0.0, False, rules, placed, rng)
        block = int(np.argmin(np.linalg.norm(prepared.block_centres_mm - centre, axis=1)))
        assert valid[block]
        hits.add(block)
    assert len(hits) > 0.5 * min(400, valid.sum())


def test_no_room_is_none_and_orders_survive_attach_and_old_pickles():
    import pickle

    prepared = HeuristicGenerator.from_preset("liver_metastasis").prepare(blob_case())
    rules = PlacementRules()
    assert placement.draw_centre(prepared, 1e4, 0.0, False, rules, [], np.random.default_rng(0)) is None
    placement._admitted(prepared, False, rules)
    same = prepared.attach(prepared.case)
    assert same.placement_orders is prepared.placement_orders  # sorted once per preparation
    old = pickle.loads(pickle.dumps(prepared))
    del old.__dict__["placement_orders"]  # as pickled by a version without the cache
    assert placement.draw_centre(old, 3.0, 0.0, False, rules, [], np.random.default_rng(0)) is not None


def test_only_lesions_that_may_wrap_vessels_fall_back_on_the_smallest_reach():
    from synthtumor.lesions.placement import MIN_VESSEL_REACH, PlacementRules, wrapping_fallback

    assert wrapping_fallback(PlacementRules()) is None  # reach 1: kept clear of vessels, as every shipped preset
    assert wrapping_fallback(PlacementRules(vessel_reach=MIN_VESSEL_REACH)) is None
    rules = PlacementRules(vessel_reach=0.3, vessel_clearance_mm=1.5, subcapsular_prob=0.7)
    fallback = wrapping_fallback(rules)
    assert fallback.vessel_reach == MIN_VESSEL_REACH
    assert (fallback.vessel_clearance_mm, fallback.subcapsular_prob) == (1.5, 0.7)
