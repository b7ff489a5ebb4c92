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
