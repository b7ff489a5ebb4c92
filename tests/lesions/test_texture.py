"""Band-limited texture: unit variance everywhere in the box, exact normalisation, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.lesions.texture import _kernel, _wrapped_kernel_power, band_limited_noise


@pytest.mark.parametrize("size,sigma", [(40, 2.0), (5, 0.4), (4, 2.0), (3, 3.0)])
def test_wrapped_kernel_power_is_the_filtered_variance(size, sigma):
    # the variance of periodic filtering of unit white noise, computed from the filter itself:
    # the sum of squares of the filter's impulse response (a circulant matrix's row)
    impulse = np.zeros(size)
    impulse[0] = 1.0
    response = ndi.gaussian_filter1d(impulse, sigma, mode="wrap", truncate=2.5)
    assert _wrapped_kernel_power(_kernel(sigma), size) == pytest.approx(float(np.sum(response**2)), rel=1e-9)


@pytest.mark.parametrize("shape,sigma", [((30, 30, 6), (2.0, 2.0, 0.4)), ((12, 12, 12), (3.0, 3.0, 3.0)),
                                         ((20, 16, 14), (1.5, 1.5, 1.5))])
def test_unit_std_at_every_voxel_and_gaussian(shape, sigma):
    rng = np.random.default_rng(0)
    draws = np.stack([band_limited_noise(shape, np.array(sigma), rng) for _ in range(1500)])
    assert draws.dtype == np.float32
    per_voxel_var = draws.var(axis=0)
    # stationary: the box's outer layer as textured as its inside (no boundary shrinkage)
    outer = np.ones(shape, bool)
    outer[1:-1, 1:-1, 1:-1] = False
    assert abs(per_voxel_var[outer].mean() - 1) < 0.08  # about 3 standard errors on the 12^3 box
    assert abs(per_voxel_var[~outer].mean() - 1) < 0.08
    assert abs(draws.std() - 1) < 0.02
    values = draws.ravel()
    kurtosis = np.mean((values - values.mean()) ** 4) / values.var() ** 2 - 3
    assert abs(kurtosis) < 0.15


def test_same_generator_state_same_bytes():
    a = band_limited_noise((9, 8, 7), np.array([1.5, 1.5, 0.5]), np.random.default_rng(5))
    b = band_limited_noise((9, 8, 7), np.array([1.5, 1.5, 0.5]), np.random.default_rng(5))
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("shape,sigma", [((23, 19, 17), (2.0, 2.0, 2.0)), ((30, 28, 5), (2.5, 2.5, 0.4)),
                                         ((4, 6, 3), (3.0, 1.0, 2.0))])
def test_matrix_filter_is_scipys_periodic_filter(shape, sigma):
    # the circulant products must be exactly the periodic Gaussian filter of the same noise
    noise = band_limited_noise(shape, np.zeros(3), np.random.default_rng(9))  # unfiltered draws
    if min(sigma) >= 1.0:  # uniform draws, in the (Y, X, Z) order the docstring gives
        drawn = np.random.default_rng(9).random(size=(shape[1], shape[0], shape[2]), dtype=np.float32)
        noise = (drawn.transpose(1, 0, 2) - np.float32(0.5)) * np.float32(np.sqrt(12))
    expected = noise.astype(float)
    power = 1.0
    for axis, s in enumerate(sigma):
        expected = ndi.correlate1d(expected, _kernel(s), axis=axis, mode="wrap")
        power *= _wrapped_kernel_power(_kernel(s), shape[axis])
    got = band_limited_noise(shape, np.array(sigma), np.random.default_rng(9))
    np.testing.assert_allclose(got, expected / np.sqrt(power),
                               atol=2e-5 * np.abs(expected).max() / np.sqrt(power) + 1e-6)
