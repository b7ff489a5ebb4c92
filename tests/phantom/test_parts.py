"""Building blocks of the phantom: noise, smooth fields, tubes, intensity tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.phantom.config import PHASES
from synthtumor.phantom.geometry import Grid, SmoothField, coarse_eval
from synthtumor.phantom.intensity import draw_tissue_hu
from synthtumor.phantom.labels import LABELS, LEGEND, PAINT_ORDER
from synthtumor.phantom.noise import correlated_noise
from synthtumor.phantom.tubes import Tubes, min_connected_radius, tube_mask


def neighbour_correlation(field: np.ndarray, axis: int) -> float:
    a = np.moveaxis(field, axis, 0)
    return float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])


def test_noise_is_spatially_correlated_with_the_requested_sigma():
    rng = np.random.default_rng(0)
    noise = correlated_noise((96, 96, 48), (1.5, 1.5, 2.0), 13.0, rng, grain_mm=0.9, cutoff_mm=4.0)
    assert noise.dtype == np.float32
    assert float(noise.std()) == pytest.approx(13.0, rel=1e-3)
    assert abs(float(noise.mean())) < 0.5
    assert neighbour_correlation(noise, 0) > 0.2
    assert neighbour_correlation(noise, 1) > 0.2
    white = rng.standard_normal((96, 96, 48))
    assert abs(neighbour_correlation(white, 0)) < 0.02


def test_noise_grain_is_physical_size():
    rng = np.random.default_rng(1)
    fine = correlated_noise((160, 64, 32), (0.5, 0.5, 2.0), 10.0, rng)
    coarse = correlated_noise((160, 64, 32), (2.0, 2.0, 2.0), 10.0, rng)
    assert neighbour_correlation(fine, 0) > neighbour_correlation(coarse, 0)


def test_phantom_noise_is_correlated_in_the_liver():
    from synthtumor.phantom import PhantomConfig, make_phantom, phantom_seed

    ph = make_phantom(PhantomConfig(spacing=(2.0, 2.0, 2.5)), phantom_seed(9, 0))
    case = ph.case
    far = ndi.distance_transform_edt(~case.vessels, sampling=case.spacing) >= 3.0
    region = ndi.binary_erosion(case.organ, iterations=2) & far
    dev = np.where(region, case.image - np.median(case.image[region]), 0.0)
    pair = region[:-1] & region[1:]
    r = np.corrcoef(dev[:-1][pair], dev[1:][pair])[0, 1]
    assert r > 0.1


def test_smooth_field_does_not_depend_on_spacing():
    lo, hi = (-50.0, -50.0, -50.0), (50.0, 50.0, 50.0)
    a = SmoothField(np.random.default_rng(3), lo, hi, 12.0)
    b = SmoothField(np.random.default_rng(3), lo, hi, 12.0)
    x = np.array([-10.0, 0.0, 10.0], dtype=np.float32)
    fa = a.on_axes(x, x, x)
    fine = np.arange(-10.0, 10.01, 0.5, dtype=np.float32)
    fb = b.on_axes(fine, fine, fine)[::20, ::20, ::20]
    assert np.allclose(fa, fb, atol=1e-5)
    big = a.on_axes(*(np.linspace(-45, 45, 40, dtype=np.float32),) * 3)
    assert 0.6 < float(big.std()) < 1.4


def test_coarse_eval_interpolates_a_smooth_function():
    grid = Grid.centred((60.0, 50.0, 40.0), (0.7, 0.9, 3.0))
    box = grid.box((-20, -20, -15), (20, 20, 15))

    def fn(x, y, z):
        return 0.3 * x - 0.2 * y + 0.5 * z + 0.01 * x * y

    x, y, z = grid.mesh(box)
    assert np.allclose(coarse_eval(fn, grid, box, 2.0), fn(x, y, z), atol=0.05)


@pytest.mark.parametrize("spacing", [(1.5, 1.5, 2.0), (0.8, 0.8, 5.0), (3.0, 1.0, 1.0)])
def test_thin_tubes_stay_connected(spacing):
    grid = Grid.centred((120.0, 120.0, 120.0), spacing)
    rng = np.random.default_rng(5)
    points = np.cumsum(rng.normal(0.0, 6.0, size=(25, 3)), axis=0)
    points -= points.mean(axis=0)
    tubes = Tubes.polyline(points, 0.3)  # far thinner than a voxel
    box, mask = tube_mask(grid, tubes, min_connected_radius(spacing))
    assert mask.any()
    assert ndi.label(mask, structure=np.ones((3, 3, 3), bool))[1] == 1


def test_tube_rasterisation_matches_a_cylinder_volume():
    grid = Grid.centred((100.0, 100.0, 100.0), (1.0, 1.0, 1.0))
    tubes = Tubes.polyline(np.array([[0.0, 0.0, -30.0], [0.0, 0.0, 30.0]]), 8.0)
    _, mask = tube_mask(grid, tubes)
    expected = np.pi * 8.0**2 * 60.0 + 4.0 / 3.0 * np.pi * 8.0**3
    assert np.count_nonzero(mask) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("phase", PHASES)
def test_every_structure_has_an_intensity(phase):
    hu = draw_tissue_hu(phase, np.random.default_rng(0))
    assert set(hu) == set(LABELS)
    assert hu["background"] == -1000.0
    assert hu["vertebra_cortex"] > hu["vertebra"] > hu["liver"] > hu["body_fat"]


def test_portal_and_native_intensity_laws():
    for seed in range(50):
        portal = draw_tissue_hu("portal", np.random.default_rng(seed))
        assert 90 <= portal["liver"] <= 120
        assert portal["portal_vein"] - portal["liver"] >= 60
        assert portal["hepatic_veins"] - portal["liver"] >= 50
        native = draw_tissue_hu("native", np.random.default_rng(seed))
        assert abs(native["portal_vein"] - native["liver"]) <= 15
        arterial = draw_tissue_hu("arterial", np.random.default_rng(seed))
        assert arterial["aorta"] > 200 and arterial["kidney_right"] > arterial["renal_medulla"]


def test_legend_and_paint_order_cover_every_label():
    assert len(set(LABELS.values())) == len(LABELS)
    assert LEGEND[0] == "background"
    assert set(PAINT_ORDER) == set(LABELS) - {"background"}
