"""Lesion geometry: the fast field against a plain per-voxel evaluation of the same formulas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erfc

from synthtumor.generators.heuristic import random_rotation
from synthtumor.lesions import shape
from synthtumor.lesions.shape import EDGE_SIGMA_PER_WIDTH, VOXEL_BOX_STD, lesion_box, lesion_field
from synthtumor.lesions.spec import IntensitySpec, TumorSpec

#: (spacing, oblique) of the grids the field is checked on: isotropic, thick slices, oblique.
GRIDS = [((1.0, 1.0, 1.0), False), ((0.7, 0.7, 5.0), False), ((0.8, 0.9, 2.5), True)]


def _spec(rng, affine, shape_, radii=None, lobulation=None, irregularity=None) -> TumorSpec:
    centre_vox = np.asarray(shape_) / 2 + rng.uniform(-2, 2, 3)
    return TumorSpec(
        centre_mm=tuple(affine[:3, :3] @ centre_vox + affine[:3, 3]),
        radii_mm=tuple(radii if radii is not None else rng.uniform(3, 16, 3)),
        rotation=tuple(map(tuple, random_rotation(rng))),
        size_class="small", shape_seed=int(rng.integers(1000)), texture_seed=1,
        lobulation=float(rng.uniform(0, 0.3)) if lobulation is None else lobulation,
        irregularity=float(rng.uniform(0, 0.2)) if irregularity is None else irregularity,
        edge_width_mm=float(rng.uniform(0.5, 3)), intensity=IntensitySpec(),
    )


def _affine(rng, spacing, oblique):
    affine = np.diag([*spacing, 1.0])
    if oblique:
        affine[:3, :3] = random_rotation(rng) @ np.diag(spacing)
        affine[:3, 3] = rng.uniform(-10, 10, 3)
    return affine


def reference_field(spec: TumorSpec, affine: np.ndarray, box):
    """The module docstring's formulas, voxel by voxel in float64 (perturbation exact everywhere)."""
    grids = np.meshgrid(*[np.arange(s.start, s.stop, dtype=float) for s in box], indexing="ij")
    vox = np.stack(grids).reshape(3, -1)
    x = affine[:3, :3] @ vox + affine[:3, 3:4] - np.asarray(spec.centre_mm)[:, None]
    rot = np.asarray(spec.rotation)
    radii = np.asarray(spec.radii_mm)
    q = (rot.T @ x) / radii[:, None]
    rho = np.linalg.norm(q, axis=0)
    n = q / np.maximum(rho, 1e-6)
    f = shape._perturbation_at(spec, n.astype(np.float32)).astype(float)
    g = q / radii[:, None]
    g_norm = np.maximum(np.linalg.norm(g, axis=0), 1e-12)
    ratio = np.where(rho > 0, rho / g_norm, radii.min())  # rho / |grad|; r_min at the centre itself
    signed = (rho - 1 - f) * ratio
    normal = rot @ g / g_norm
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    axes = affine[:3, :3] / spacing
    pv = sum(((axes[:, v] @ normal) * VOXEL_BOX_STD * spacing[v]) ** 2 for v in range(3))
    sigma = np.sqrt((spec.edge_width_mm * EDGE_SIGMA_PER_WIDTH) ** 2 + pv)
    alpha = 0.5 * erfc(signed / (np.sqrt(2) * sigma))
    alpha[alpha < shape.ALPHA_FLOOR] = 0
    shape_ = tuple(s.stop - s.start for s in box)
    return signed.reshape(shape_), alpha.reshape(shape_), x.reshape((3, *shape_)), n.reshape((3, *shape_))


@pytest.mark.parametrize("spacing,oblique", GRIDS)
def test_field_matches_plain_evaluation(spacing, oblique, monkeypatch):
    # with the perturbation evaluated at every voxel (as on boxes under 12 voxels across),
    # everything must agree closely
    monkeypatch.setattr(shape, "_COARSE_POINTS", 10**6)
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(8):
        affine = _affine(rng, spacing, oblique)
        spec = _spec(rng, affine, (200, 200, 80), radii=rng.uniform(1.5, 8.0, 3))
        box = lesion_box(spec, affine, (200, 200, 80))
        signed, alpha, offsets, direction = reference_field(spec, affine, box)
        field = lesion_field(spec, affine, box)
        near = np.abs(signed) < 50
        np.testing.assert_allclose(field.signed_mm[near], signed[near], atol=2e-3, rtol=1e-4)
        np.testing.assert_allclose(field.alpha, alpha, atol=1.1e-3)  # 1e-3: the floor's edge
        both = (field.alpha > 2e-3) & (alpha > 2e-3)
        np.testing.assert_allclose(field.alpha[both], alpha[both], atol=1e-5)
        np.testing.assert_allclose(field.offset_mm, offsets, atol=1e-3)
        np.testing.assert_allclose(field.direction, direction, atol=1e-4)
        checked += 1
    assert checked == 8


@pytest.mark.parametrize("spacing,oblique", GRIDS)
def test_coarse_perturbation_keeps_the_shape(spacing, oblique):
    # larger boxes interpolate the perturbation from a coarse grid: volume within 3 %, Dice >= 0.95
    rng = np.random.default_rng(2)
    for _ in range(6):
        affine = _affine(rng, spacing, oblique)
        spec = _spec(rng, affine, (300, 300, 120), radii=rng.uniform(8, 16, 3), lobulation=0.25, irregularity=0.15)
        box = lesion_box(spec, affine, (300, 300, 120))
        _, alpha, _, _ = reference_field(spec, affine, box)
        fast = lesion_field(spec, affine, box).alpha
        assert abs(fast.sum() / alpha.sum() - 1) < 0.03
        a, b = fast > 0.5, alpha > 0.5
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) >= 0.95


def _whole_volume_alpha(spec, affine, shape_):
    return lesion_field(spec, affine, tuple(slice(0, n) for n in shape_)).alpha


def _sheared(spacing=(0.8, 0.8, 3.0), tilt_deg=25.0):
    """A gantry-tilted CT grid: the slice axis leans, so the voxel axes are not orthogonal."""
    affine = np.diag([*spacing, 1.0])
    affine[1, 2] = spacing[2] * np.tan(np.radians(tilt_deg))
    return affine


@pytest.mark.parametrize("grid", ["1mm", "thick", "oblique", "sheared"])
def test_box_holds_every_voxel_the_lesion_touches(grid):
    # elongated lesions (aspect up to 10), thin edges and thick slices are where a loose
    # argument fails; alpha is evaluated on the whole volume, not on a larger box
    rng = np.random.default_rng(3)
    shape_ = (90, 90, 24) if grid != "1mm" else (70, 70, 70)
    for i in range(12):
        if grid == "sheared":
            affine = _sheared()
        else:
            spacing = {"1mm": (1.0, 1.0, 1.0), "thick": (0.8, 0.8, 7.5), "oblique": (0.8, 0.9, 2.5)}[grid]
            affine = _affine(rng, spacing, grid == "oblique")
        elongated = i % 2 == 0
        radii = rng.uniform([8, 1, 1], [12, 2.5, 2.5]) if elongated else rng.uniform(3, 9, 3)
        p = (0.0, 0.0) if i % 3 == 0 else (float(rng.uniform(0, 0.3)), float(rng.uniform(0, 0.2)))
        spec = TumorSpec(
            centre_mm=tuple(affine[:3, :3] @ (np.asarray(shape_) / 2 + rng.uniform(-1, 1, 3)) + affine[:3, 3]),
            radii_mm=tuple(radii), rotation=tuple(map(tuple, random_rotation(rng))), size_class="small",
            shape_seed=int(rng.integers(1000)), texture_seed=1, lobulation=p[0], irregularity=p[1],
            edge_width_mm=float(rng.uniform(0.3, 1.5)), intensity=IntensitySpec(),
        )
        box = lesion_box(spec, affine, shape_)
        alpha = _whole_volume_alpha(spec, affine, shape_)
        outside = alpha.copy()
        outside[box] = 0
        assert alpha.max() > 0 and outside.max() == 0


def test_box_is_tight_for_a_ball():
    # a ball with no perturbation on a 1 mm grid: the box ends within two voxels of the
    # last voxel with alpha > 0 on every side
    rng = np.random.default_rng(4)
    shape_ = (60, 60, 60)
    for _ in range(10):
        spec = TumorSpec(centre_mm=tuple(30 + rng.uniform(-1, 1, 3)), radii_mm=(9.0, 9.0, 9.0),
                         rotation=tuple(map(tuple, random_rotation(rng))), size_class="small",
                         shape_seed=1, texture_seed=1, lobulation=0.0, irregularity=0.0,
                         edge_width_mm=float(rng.uniform(0.5, 2.0)), intensity=IntensitySpec())
        box = lesion_box(spec, np.eye(4), shape_)
        support = np.argwhere(_whole_volume_alpha(spec, np.eye(4), shape_) > 0)
        lo, hi = support.min(axis=0), support.max(axis=0) + 1
        assert all(s.start <= a and b <= s.stop for s, a, b in zip(box, lo, hi))
        assert all(a - s.start <= 2 and s.stop - b <= 2 for s, a, b in zip(box, lo, hi))


def test_sheared_grid_matches_plain_evaluation(monkeypatch):
    monkeypatch.setattr(shape, "_COARSE_POINTS", 10**6)
    rng = np.random.default_rng(5)
    affine = _sheared()
    for _ in range(4):
        spec = _spec(rng, affine, (90, 90, 24), radii=rng.uniform(3, 8, 3))
        box = lesion_box(spec, affine, (90, 90, 24))
        signed, alpha, offsets, _ = reference_field(spec, affine, box)
        field = lesion_field(spec, affine, box)
        both = (field.alpha > 2e-3) & (alpha > 2e-3)
        np.testing.assert_allclose(field.alpha[both], alpha[both], atol=1e-5)
        np.testing.assert_allclose(field.offset_mm, offsets, atol=1e-3)


@pytest.mark.parametrize("spacing,oblique", GRIDS)
def test_very_elongated_lesions_keep_their_precision(spacing, oblique, monkeypatch):
    # the quadratic forms' terms grow as the aspect ratio squared; summed in float32 they lost
    # 0.17 mm at 1 x 2 x 45 mm
    monkeypatch.setattr(shape, "_COARSE_POINTS", 10**6)
    rng = np.random.default_rng(6)
    for radii in ((1.0, 2.0, 45.0), (2.0, 5.0, 20.0), (1.5, 30.0, 3.0)):
        affine = _affine(rng, spacing, oblique)
        spec = _spec(rng, affine, (300, 300, 120), radii=np.array(radii), lobulation=0.0, irregularity=0.0)
        box = lesion_box(spec, affine, (300, 300, 120))
        signed, alpha, _, _ = reference_field(spec, affine, box)
        field = lesion_field(spec, affine, box)
        near = np.abs(signed) < 10
        np.testing.assert_allclose(field.signed_mm[near], signed[near], atol=2e-3, rtol=1e-4)
        np.testing.assert_allclose(field.alpha, alpha, atol=1.1e-3)
