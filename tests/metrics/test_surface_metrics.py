"""HD95, ASSD and NSD: analytic shapes, empty masks, and agreement with MONAI (anisotropic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

from synthtumor.metrics import hausdorff_distance, mask_surface, surface_distances, surface_metrics
from synthtumor.metrics.surface import grid_diagonal_mm
from tests.metrics._shapes import ANISO, as_tensor, ball, blob, monai_quiet

# MONAI computes distances and the percentile in float32: agreement is to float32 precision.
RTOL, ATOL = 1e-5, 1e-5


def monai_metrics(pred, ref, spacing, tol):
    p, r = as_tensor(pred), as_tensor(ref)
    return {
        "hd95": monai_quiet(compute_hausdorff_distance, p, r, include_background=True, percentile=95,
                            spacing=list(spacing)),
        "assd": monai_quiet(compute_average_surface_distance, p, r, include_background=True, symmetric=True,
                            spacing=list(spacing)),
        "nsd": monai_quiet(compute_surface_dice, p, r, class_thresholds=[tol], include_background=True,
                           spacing=list(spacing)),
    }


def shapes():
    shape = (40, 40, 16)
    cube_a = np.zeros(shape, bool)
    cube_a[8:28, 10:30, 3:11] = True
    cube_b = np.zeros(shape, bool)
    cube_b[11:31, 10:28, 5:13] = True
    edge = np.zeros(shape, bool)
    edge[0:12, 5:20, 0:6] = True  # touches the grid border
    yield "blobs-0", blob(0), blob(10)
    yield "blobs-1", blob(1), blob(11)
    yield "blobs-2", blob(2, sigma=2.0), blob(3, sigma=2.0)
    yield "spheres", ball(shape, ANISO, 9.0), ball(shape, ANISO, 12.0, centre=(17.0, 15.0, 18.0))
    yield "cubes", cube_a, cube_b
    yield "border", edge, cube_a


@pytest.mark.parametrize("name,pred,ref", list(shapes()), ids=[s[0] for s in shapes()])
@pytest.mark.parametrize("tol", [1.0, 2.5])
def test_matches_monai_with_anisotropic_spacing(name, pred, ref, tol):
    ours = surface_metrics(pred, ref, ANISO, tolerance_mm=tol)
    theirs = monai_metrics(pred, ref, ANISO, tol)
    for key in ("hd95", "assd", "nsd"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=f"{name} {key}")


def test_kdtree_and_distance_transform_agree():
    a, b = blob(4), blob(5)
    k = surface_distances(a, b, ANISO, method="kdtree")
    e = surface_distances(a, b, ANISO, method="edt")
    np.testing.assert_allclose(k.pred_to_ref, e.pred_to_ref, atol=1e-9)
    np.testing.assert_allclose(k.ref_to_pred, e.ref_to_pred, atol=1e-9)


@pytest.mark.parametrize("r1,r2", [(6.0, 10.0), (8.0, 14.0), (10.0, 11.0)])
def test_concentric_spheres_hd95_is_radius_difference_within_a_voxel(r1, r2):
    shape = (48, 48, 16)
    a, b = ball(shape, ANISO, r1), ball(shape, ANISO, r2)
    hd95 = hausdorff_distance(a, b, ANISO)
    assert abs(hd95 - abs(r2 - r1)) <= max(ANISO)
    assert hausdorff_distance(a, b, ANISO, percentile=100) >= hd95


@pytest.mark.parametrize("axis,voxels", [(0, 3), (2, 2), (1, 5)])
def test_shifted_cube_hausdorff_is_the_shift_in_mm(axis, voxels):
    shape = (30, 30, 14)
    ref = np.zeros(shape, bool)
    ref[5:15, 6:16, 2:8] = True
    pred = np.roll(ref, voxels, axis=axis)
    shift_mm = voxels * ANISO[axis]
    assert hausdorff_distance(pred, ref, ANISO, percentile=100) == pytest.approx(shift_mm)
    assert hausdorff_distance(pred, ref, ANISO) <= shift_mm + 1e-9
    d = surface_distances(pred, ref, ANISO)
    assert d.pred_to_ref.max() == pytest.approx(shift_mm)


def test_cube_surface_is_its_shell():
    mask = np.zeros((12, 12, 12), bool)
    mask[2:8, 2:8, 2:8] = True
    assert mask_surface(mask).sum() == 6**3 - 4**3
    assert surface_metrics(mask, mask, ANISO) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}


def test_both_empty():
    empty = np.zeros((8, 8, 8), bool)
    assert surface_metrics(empty, empty, ANISO) == {"hd95": 0.0, "assd": 0.0, "nsd": 1.0}


def test_one_empty_gives_the_grid_diagonal_and_nsd_zero():
    empty = np.zeros((10, 12, 8), bool)
    full = empty.copy()
    full[3:6, 3:6, 3:6] = True
    diagonal = math.sqrt((10 * 0.8) ** 2 + (12 * 0.8) ** 2 + (8 * 2.5) ** 2)
    assert grid_diagonal_mm(empty.shape, ANISO) == pytest.approx(diagonal)
    for pred, ref in ((empty, full), (full, empty)):
        m = surface_metrics(pred, ref, ANISO)
        assert m["hd95"] == pytest.approx(diagonal) and m["assd"] == pytest.approx(diagonal)
        assert m["nsd"] == 0.0
    nan_rule = surface_metrics(empty, full, ANISO, worst_case_mm=float("nan"))
    assert math.isnan(nan_rule["hd95"]) and math.isnan(nan_rule["assd"])


def test_documented_differences_from_monai_on_empty_masks():
    """MONAI: both empty -> NaN for all three; one empty -> HD95 NaN (quantile of infs), ASSD inf, NSD 0.

    Ours: both empty -> 0 mm, 0 mm, 1; one empty -> the grid diagonal for HD95 and ASSD, NSD 0.
    """
    empty = np.zeros((10, 10, 6), bool)
    full = empty.copy()
    full[2:5, 2:5, 2:4] = True
    both = monai_metrics(empty, empty, ANISO, 2.0)
    assert math.isnan(both["hd95"]) and math.isnan(both["assd"]) and math.isnan(both["nsd"])
    for pred, ref in ((empty, full), (full, empty)):
        one = monai_metrics(pred, ref, ANISO, 2.0)
        assert math.isnan(one["hd95"]) and math.isinf(one["assd"]) and one["nsd"] == 0.0
        ours = surface_metrics(pred, ref, ANISO)
        assert ours["nsd"] == one["nsd"] and ours["hd95"] == ours["assd"] == grid_diagonal_mm(empty.shape, ANISO)


def test_bad_arguments():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(ValueError):
        surface_metrics(a, a, (1.0, 1.0))
    with pytest.raises(ValueError):
        surface_metrics(a, a, (1.0, -1.0, 1.0))
    with pytest.raises(ValueError):
        surface_metrics(a, a, ANISO, tolerance_mm=-1)
    with pytest.raises(ValueError):
        surface_distances(a, a, ANISO, method="chamfer")  # type: ignore[arg-type]
