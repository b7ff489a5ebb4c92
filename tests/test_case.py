"""Case validation: every bad input is refused with a message that names the case."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor import Case, InvalidCaseError, Phase

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def make(**kw):
    image = np.zeros((10, 9, 8), np.float32) - 1000
    organ = np.zeros(image.shape, bool)
    organ[2:6, 2:6, 2:6] = True
    args = dict(image=image, affine=AFFINE, case_id="c1", organ=organ)
    args.update(kw)
    return Case(**args)


def test_valid_case_derives_geometry_and_label():
    tumor = np.zeros((10, 9, 8), bool)
    tumor[3, 3, 3] = True
    case = make(tumor=tumor, phase="Portal")
    assert case.phase is Phase.PORTAL
    assert case.spacing == pytest.approx((0.8, 0.8, 2.5))
    assert case.image.dtype == np.float32
    label = case.label
    assert label[3, 3, 3] == 2 and label[2, 2, 2] == 1 and label[0, 0, 0] == 0
    assert case.volume_ml(case.organ) == pytest.approx(64 * 0.8 * 0.8 * 2.5 / 1000)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(image=np.zeros((10, 9))), "2 dimensions"),
        (dict(image=np.zeros((10, 9, 8, 2))), "4 dimensions"),
        (dict(image=np.full((10, 9, 8), np.nan)), "NaN"),
        (dict(image=np.where(np.eye(10)[:, :9, None] > 0, np.inf, 0.0) * np.ones(8)), "NaN or infinite"),
        (dict(organ=np.zeros((10, 9, 8), bool)), "organ mask is empty"),
        (dict(organ=np.ones((10, 9, 7), bool)), "shape"),
        (dict(vessels=np.full((10, 9, 8), 3)), "other than 0 and 1"),
        (dict(affine=np.diag([-0.8, 0.8, 2.5, 1.0])), "not RAS"),
        (dict(affine=np.zeros((4, 4))), "singular"),
        (dict(case_id="../evil"), "not a plain name"),
        (dict(phase="venous-ish"), "unknown contrast phase"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(change, words):
    with pytest.raises(InvalidCaseError, match=words) as info:
        make(**change)
    if "case_id" not in change:
        assert "'c1'" in str(info.value)


def test_replace_validates_again():
    case = make()
    with pytest.raises(InvalidCaseError):
        case.replace(organ=np.zeros(case.shape, bool))
    assert case.replace(case_id="c2").case_id == "c2"


def test_case_without_organ_is_allowed():
    case = make(organ=None)
    assert case.label.max() == 0
