"""Overlap metrics: hand-computed counts, empty-mask rules, agreement with MONAI's Dice."""

from __future__ import annotations

import math

import numpy as np
import pytest
from monai.metrics import compute_dice

from synthtumor.metrics import Confusion, confusion, dice, jaccard, overlap_metrics
from tests.metrics._shapes import as_tensor, blob, monai_quiet


def test_hand_computed_counts_and_ratios():
    pred = np.zeros((4, 4, 4), bool)
    ref = np.zeros((4, 4, 4), bool)
    pred[0, 0, :3] = True  # 3 voxels
    ref[0, 0, 1:] = True  # 3 voxels, 2 shared
    counts = confusion(pred, ref)
    assert counts == Confusion(tp=2, fp=1, fn=1, tn=60)
    m = overlap_metrics(counts)
    assert m["dice"] == pytest.approx(4 / 6)
    assert m["jaccard"] == pytest.approx(2 / 4)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["fpr"] == pytest.approx(1 / 61)
    assert m["fnr"] == pytest.approx(1 / 3)


def test_total_counts_voxels_outside_a_crop_as_true_negatives():
    pred = np.ones((2, 2, 2), bool)
    assert confusion(pred, pred, total=100).tn == 92
    with pytest.raises(ValueError):
        confusion(pred, pred, total=3)


def test_both_empty():
    empty = np.zeros((5, 5, 5), bool)
    m = overlap_metrics(confusion(empty, empty))
    assert m["dice"] == 1.0 and m["jaccard"] == 1.0 and m["fpr"] == 0.0
    assert math.isnan(m["precision"]) and math.isnan(m["recall"]) and math.isnan(m["fnr"])


def test_empty_prediction():
    ref = np.zeros((5, 5, 5), bool)
    ref[2, 2, 2] = True
    m = overlap_metrics(confusion(np.zeros_like(ref), ref))
    assert m["dice"] == 0.0 and m["jaccard"] == 0.0 and m["recall"] == 0.0 and m["fnr"] == 1.0
    assert math.isnan(m["precision"]) and m["fpr"] == 0.0


def test_empty_reference():
    pred = np.zeros((5, 5, 5), bool)
    pred[1, 1, 1] = True
    m = overlap_metrics(confusion(pred, np.zeros_like(pred)))
    assert m["dice"] == 0.0 and m["precision"] == 0.0
    assert math.isnan(m["recall"]) and math.isnan(m["fnr"])
    assert m["fpr"] == pytest.approx(1 / 125)


@pytest.mark.parametrize("seed", range(4))
def test_dice_matches_monai_on_random_blobs(seed):
    a, b = blob(seed), blob(seed + 100)
    expected = monai_quiet(compute_dice, as_tensor(a), as_tensor(b), include_background=True, ignore_empty=False)
    assert dice(a, b) == pytest.approx(expected, abs=1e-6)
    assert jaccard(a, b) == pytest.approx(expected / (2 - expected), abs=1e-6)


def test_dice_empty_rules_match_monai_without_ignore_empty():
    empty = np.zeros((6, 6, 6), bool)
    one = empty.copy()
    one[3, 3, 3] = True
    for pred, ref in ((empty, empty), (one, empty), (empty, one)):
        expected = monai_quiet(compute_dice, as_tensor(pred), as_tensor(ref), include_background=True,
                               ignore_empty=False)
        assert dice(pred, ref) == expected


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        confusion(np.zeros((2, 2, 2), bool), np.zeros((2, 2, 3), bool))
