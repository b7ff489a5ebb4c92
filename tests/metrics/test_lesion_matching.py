"""Lesion matching: split and merged lesions, thresholds, volumes, radii and size-bin edges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.metrics import equivalent_radius_mm, label_lesions, match_lesions, size_bin, size_bin_labels
from synthtumor.metrics.lesions import OUT_OF_RANGE, check_size_bins

ISO = (1.0, 1.0, 1.0)


def boxes(shape, *corners):
    mask = np.zeros(shape, bool)
    for (x0, x1), (y0, y1), (z0, z1) in corners:
        mask[x0:x1, y0:y1, z0:z1] = True
    return mask


def test_perfect_match():
    ref = boxes((20, 20, 20), ((2, 6), (2, 6), (2, 6)), ((10, 14), (10, 14), (10, 14)))
    m = match_lesions(ref, ref, ISO)
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)
    assert all(les.dice == 1.0 and les.iou == 1.0 and les.match == les.index for les in m.ref)


def test_split_lesion_gives_one_tp_and_one_fp():
    ref = boxes((20, 20, 20), ((2, 12), (2, 6), (2, 6)))  # 10 x 4 x 4
    pred = boxes((20, 20, 20), ((2, 6), (2, 6), (2, 6)), ((8, 12), (2, 6), (2, 6)))  # two 4 x 4 x 4 pieces
    m = match_lesions(pred, ref, ISO)
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)
    (ref_lesion,) = m.ref
    assert ref_lesion.iou == pytest.approx(64 / 160)
    assert ref_lesion.dice == pytest.approx(2 * 64 / (160 + 64))
    assert sorted(les.matched for les in m.pred) == [False, True]


def test_merged_lesions_give_one_tp_and_one_fn():
    ref = boxes((20, 20, 20), ((2, 6), (2, 6), (2, 6)), ((9, 12), (2, 6), (2, 6)))  # 64 and 48 voxels
    pred = boxes((20, 20, 20), ((2, 12), (2, 6), (2, 6)))  # one blob over both
    m = match_lesions(pred, ref, ISO)
    assert (m.tp, m.fp, m.fn) == (1, 0, 1)
    assert m.ref[0].matched and not m.ref[1].matched  # the larger IoU wins
    assert m.ref[1].dice == 0.0 and m.ref[1].iou == 0.0


def test_iou_threshold():
    ref = boxes((20, 20, 20), ((2, 12), (2, 12), (2, 4)))  # 200 voxels
    pred = boxes((20, 20, 20), ((2, 4), (2, 4), (2, 4)))  # 8 voxels inside: IoU 0.04
    assert match_lesions(pred, ref, ISO).tp == 0
    assert match_lesions(pred, ref, ISO, iou_threshold=0.04).tp == 1
    assert match_lesions(pred, ref, ISO, iou_threshold=0.0).tp == 1
    far = boxes((20, 20, 20), ((15, 17), (15, 17), (15, 17)))
    assert match_lesions(far, ref, ISO, iou_threshold=0.0).tp == 0  # no overlap never matches


def test_hungarian_prefers_the_assignment_with_the_larger_total_iou():
    # pred A overlaps refs 1 and 2; pred B overlaps only ref 1. Greedy (A-1 first) would leave
    # ref 2 unmatched; the optimal assignment is A-2, B-1.
    ref = boxes((30, 10, 10), ((0, 10), (0, 4), (0, 4)), ((12, 20), (0, 4), (0, 4)))
    pred = boxes((30, 10, 10), ((4, 16), (0, 4), (0, 4)), ((0, 3), (0, 4), (0, 4)))
    m = match_lesions(pred, ref, ISO)
    assert (m.tp, m.fp, m.fn) == (2, 0, 0)


def test_volumes_radii_and_26_connectivity():
    spacing = (0.5, 0.5, 2.0)
    ref = boxes((20, 20, 10), ((2, 6), (2, 6), (2, 4)))
    ref[6, 6, 4] = True  # touches the box only at a corner: same lesion
    labels, n = label_lesions(ref)
    assert n == 1 and labels.max() == 1
    m = match_lesions(np.zeros_like(ref), ref, spacing)
    (les,) = m.ref
    assert les.voxels == 33
    assert les.volume_ml == pytest.approx(33 * 0.5 / 1000)
    assert les.equivalent_radius_mm == pytest.approx((3 * 33 * 0.5 / (4 * math.pi)) ** (1 / 3))
    assert (m.tp, m.fp, m.fn) == (0, 0, 1)


def test_equivalent_radius_of_a_sphere():
    assert equivalent_radius_mm(4 / 3 * math.pi * 7.0**3) == pytest.approx(7.0)


def test_size_bins_are_half_open_and_an_edge_falls_in_the_upper_bin():
    assert size_bin_labels() == ["[0, 5)", "[5, 10)", "[10, inf)"]
    assert size_bin(4.999, (0, 5, 10, math.inf)) == "[0, 5)"
    assert size_bin(5.0) == "[5, 10)"
    assert size_bin(10.0) == "[10, inf)"
    assert size_bin(0.0) == "[0, 5)"
    assert size_bin(1.0, (2.0, 4.0)) == OUT_OF_RANGE and size_bin(4.0, (2.0, 4.0)) == OUT_OF_RANGE


def test_a_lesion_built_exactly_at_an_edge():
    # A 2 x 2 x 2 lesion with voxels of (4/3 pi 5^3 / 8) mm^3 has an equivalent radius of 5 mm.
    side = (4 / 3 * math.pi * 125 / 8) ** (1 / 3)
    ref = boxes((6, 6, 6), ((2, 4), (2, 4), (2, 4)))
    (at_edge,) = match_lesions(ref, ref, (side, side, side)).ref
    assert at_edge.equivalent_radius_mm == pytest.approx(5.0, abs=1e-9)
    assert at_edge.size_bin == "[5, 10)"
    (below,) = match_lesions(ref, ref, (side * 0.999,) * 3).ref
    assert below.size_bin == "[0, 5)"


def test_custom_bins_and_bad_bins():
    assert check_size_bins([0, 3, 6]) == (0.0, 3.0, 6.0)
    for bad in ([5], [0, 5, 5], [10, 5], [-1, 5], [0, float("nan")]):
        with pytest.raises(ValueError):
            check_size_bins(bad)
    m = match_lesions(boxes((8, 8, 8), ((2, 4), (2, 4), (2, 4))), boxes((8, 8, 8), ((2, 4), (2, 4), (2, 4))),
                      ISO, size_bins=(0, 1, 2))
    assert m.ref[0].size_bin == "[1, 2)"  # 8 mm^3 -> r = 1.24 mm


def test_empty_masks_and_rows():
    empty = np.zeros((5, 5, 5), bool)
    m = match_lesions(empty, empty, ISO)
    assert (m.tp, m.fp, m.fn) == (0, 0, 0) and m.rows("c") == []
    pred = boxes((5, 5, 5), ((1, 2), (1, 2), (1, 2)))
    rows = match_lesions(pred, empty, ISO).rows("c")
    assert rows == [{"case_id": "c", "side": "pred", "lesion": 1, "voxels": 1, "volume_ml": 0.001,
                     "equivalent_radius_mm": pytest.approx(0.6203505), "size_bin": "[0, 5)", "matched": 0,
                     "match": "", "iou": 0.0, "dice": 0.0}]


def test_bad_arguments():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(ValueError):
        match_lesions(a, a, ISO, iou_threshold=1.5)
    with pytest.raises(ValueError):
        match_lesions(a, np.zeros((4, 4, 5), bool), ISO)
