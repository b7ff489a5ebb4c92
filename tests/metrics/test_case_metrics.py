"""One case's metrics row: columns, crops versus whole grids, absent classes, burden, Cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor import Case
from synthtumor.errors import InvalidCaseError
from synthtumor.metrics import (
    CLASS_METRICS,
    class_metrics,
    evaluate_case,
    evaluate_masks,
    metric_columns,
    surface_metrics,
)
from synthtumor.metrics.overlap import confusion, overlap_metrics
from tests.metrics._shapes import ANISO, ball, blob


def pair():
    shape = (40, 40, 16)
    ref = {"organ": ball(shape, ANISO, 14.0), "tumor": ball(shape, ANISO, 4.0, centre=(16.0, 16.0, 20.0))}
    pred = {"organ": ball(shape, ANISO, 13.0), "tumor": ball(shape, ANISO, 4.0, centre=(16.8, 16.0, 20.0))}
    ref["organ"] |= ref["tumor"]
    pred["organ"] |= pred["tumor"]
    return pred, ref


def test_class_metrics_equal_the_metrics_on_the_whole_grid():
    a, b = blob(7), blob(8)
    m = class_metrics(a, b, ANISO)
    whole = overlap_metrics(confusion(a, b)) | surface_metrics(a, b, ANISO)
    for key, value in whole.items():
        assert m[key] == pytest.approx(value, rel=1e-12), key
    assert m["volume_ml"] == pytest.approx(a.sum() * 0.8 * 0.8 * 2.5 / 1000)
    assert m["volume_ml_ref"] == pytest.approx(b.sum() * 0.8 * 0.8 * 2.5 / 1000)
    assert set(CLASS_METRICS) <= set(m)


def test_class_metrics_both_empty():
    empty = np.zeros((6, 6, 6), bool)
    m = class_metrics(empty, empty, ANISO)
    assert m["dice"] == m["nsd"] == m["cldice"] == 1.0 and m["hd95"] == m["assd"] == 0.0
    assert m["b0"] == m["b1"] == m["euler"] == 0 and m["volume_ml"] == 0.0
    assert math.isnan(m["precision"]) and math.isnan(m["recall"])


def test_row_columns_and_lesions():
    pred, ref = pair()
    result = evaluate_masks(pred, ref, ANISO, case_id="c1", classes=("organ", "tumor"))
    assert list(result.metrics) == metric_columns(("organ", "tumor"))
    row = result.metrics
    assert row["case_id"] == "c1"
    assert 0.8 < row["dice_organ"] < 1.0 and row["b0_organ"] == 1 and row["b0_ref_organ"] == 1
    assert (row["lesion_tp"], row["lesion_fp"], row["lesion_fn"]) == (1, 0, 0)
    burden_ref = ref["tumor"].sum() / ref["organ"].sum()
    burden_pred = pred["tumor"].sum() / pred["organ"].sum()
    assert row["burden_ref"] == pytest.approx(burden_ref)
    assert row["burden_abs_err"] == pytest.approx(abs(burden_pred - burden_ref))
    rows = result.lesion_rows()
    assert [r["side"] for r in rows] == ["ref", "pred"] and all(r["matched"] == 1 for r in rows)


def test_a_class_one_side_does_not_define_is_nan_and_an_empty_one_is_scored():
    pred, ref = pair()
    result = evaluate_masks({"organ": pred["organ"], "tumor": None}, ref, ANISO, case_id="c")
    row = result.metrics
    assert math.isnan(row["dice_tumor"]) and math.isnan(row["lesion_tp"]) and math.isnan(row["dice_vessels"])
    assert result.lesions is None and result.lesion_rows() == []
    empty_tumor = evaluate_masks({"organ": pred["organ"], "tumor": np.zeros_like(pred["tumor"])}, ref, ANISO,
                                 case_id="c").metrics
    assert empty_tumor["dice_tumor"] == 0.0 and empty_tumor["lesion_fn"] == 1
    assert empty_tumor["hd95_tumor"] == pytest.approx(math.sqrt((40 * 0.8) ** 2 * 2 + (16 * 2.5) ** 2))


def test_masks_of_different_shapes_are_refused():
    pred, ref = pair()
    with pytest.raises(InvalidCaseError, match="c9"):
        evaluate_masks({"organ": pred["organ"][:-1]}, ref, ANISO, case_id="c9")


def make_case(masks, case_id="liver_1", offset=(0.0, 0.0, 0.0)):
    shape = masks["organ"].shape
    image = np.full(shape, -1000.0, np.float32)
    image[masks["organ"]] = 100.0
    affine = np.diag([*ANISO, 1.0])
    affine[:3, 3] = offset
    return Case(image=image, affine=affine, case_id=case_id, organ=masks["organ"], tumor=masks["tumor"])


def test_evaluate_case_uses_the_reference_spacing_and_checks_the_grid():
    pred, ref = pair()
    result = evaluate_case(make_case(pred), make_case(ref))
    direct = evaluate_masks(pred, ref, ANISO, case_id="liver_1")
    for key, value in direct.metrics.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(result.metrics[key])
        else:
            assert result.metrics[key] == value
    with pytest.raises(InvalidCaseError, match="affines disagree"):
        evaluate_case(make_case(pred, offset=(3.0, 0.0, 0.0)), make_case(ref))
