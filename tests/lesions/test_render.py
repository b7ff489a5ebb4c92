"""The renderer's exact vessel-clearance check against a plain distance computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor.lesions import render


def _affine(kind):
    if kind == "1mm":
        return np.eye(4)
    if kind == "thick":
        return np.diag([0.7, 0.7, 5.0, 1.0])
    affine = np.diag([0.8, 0.8, 3.0, 1.0])  # gantry tilt: sheared voxel axes
    affine[1, 2] = 3.0 * np.tan(np.radians(25.0))
    return affine


@pytest.mark.parametrize("kind", ["1mm", "thick", "sheared"])
@pytest.mark.parametrize("clearance", [1.0, 2.0, 6.5])
def test_clear_of_vessels_is_the_euclidean_distance_test(kind, clearance):
    rng = np.random.default_rng(0)
    shape = (40, 36, 20)
    smooth = ndi.gaussian_filter(rng.standard_normal(shape), 1.5)
    vessels = smooth > np.percentile(smooth, 97)  # thin, scattered tubes and blobs
    affine = _affine(kind)
    box = (slice(0, 17), slice(9, 30), slice(5, 20))  # touches the volume's edge on two sides
    got = render._clear_of_vessels(vessels, box, clearance, affine)
    # plain: world distance from every box voxel to every vessel voxel
    grid = np.stack(np.meshgrid(*[np.arange(s.start, s.stop) for s in box], indexing="ij"), -1).reshape(-1, 3)
    world = grid @ affine[:3, :3].T
    vessel_world = np.argwhere(vessels) @ affine[:3, :3].T
    nearest = np.full(len(world), np.inf)
    for chunk in np.array_split(np.arange(len(world)), 20):
        d = np.linalg.norm(world[chunk, None, :] - vessel_world[None], axis=2)
        nearest[chunk] = d.min(axis=1)
    expected = (nearest >= clearance).reshape(got.shape)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.5)], ids=["1mm", "aniso"])
@pytest.mark.parametrize("pattern", ["enhancing_rim", "necrotic_core"])
def test_a_band_rim_follows_the_rendered_boundary_where_the_organ_cuts_the_lesion(pattern, spacing):
    """rim_profile band measures depth from the rendered mask (as an enhancing rim follows a real
    tumour's boundary), so the face the capsule cuts is rimmed too; a gaussian rim keeps the drawn
    shape's own depth (shipped presets' pinned renders)."""
    from synthtumor.anatomy import prepare_case
    from synthtumor.lesions.spec import IntensitySpec, TumorSpec

    from tests.conftest import blob_case

    case = blob_case(spacing=spacing, noise=0.0, vessels=False)
    prep = prepare_case(case)
    values = {}
    for profile in ("band", "gaussian"):
        look = IntensitySpec(pattern=pattern, contrast_hu=-40.0, texture_hu=0.0, rim_hu=40.0, rim_width_mm=2.5,
                             rim_profile=profile, necrosis_fraction=0.3, necrosis_hu=20.0)
        spec = TumorSpec(centre_mm=(50.0, 0.0, 0.0), radii_mm=(10.0, 10.0, 10.0), rotation=np.eye(3),
                         size_class="small", shape_seed=1, texture_seed=2, lobulation=0.0, irregularity=0.0,
                         edge_width_mm=0.3, intensity=look)
        out = render.render_lesions(prep, [spec]).case
        x, y, z = ((np.argwhere(out.tumor) - (np.array(case.shape) - 1) / 2) * np.array(spacing)).T  # mm, centred
        at = tuple(np.argwhere(out.tumor).T)
        cut = (x >= 50.0) & ((x / 55) ** 2 + (y / 45) ** 2 + (z / 45) ** 2 > 0.96)  # within about 1 mm of the capsule
        deep_in_sphere = np.sqrt((x - 50.0) ** 2 + y**2 + z**2) < 5.0
        values[profile] = float(np.median(out.image[at][cut & deep_in_sphere]))
    assert values["band"] == pytest.approx(100.0, abs=6.0)  # parenchyma 100 - 40 + the rim's 40
    assert values["gaussian"] < 75.0  # the drawn sphere is 5 mm deep there: no rim


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 0.8, 2.5)], ids=["1mm", "aniso"])
def test_a_single_component_lesion_leaves_no_islands_and_no_blur_around_dropped_ones(spacing):
    """A wide infiltrative margin throws islands off the lesion; with single_component the mask
    is one 26-connected part and the image differs from the input only near it."""
    from synthtumor.anatomy import prepare_case
    from synthtumor.lesions.spec import IntensitySpec, TumorSpec

    from tests.conftest import blob_case

    case = blob_case(spacing=spacing, noise=0.0, vessels=False)
    prep = prepare_case(case)
    found = {}
    for seed in range(1, 9):
        kw = dict(centre_mm=(0.0, 0.0, 0.0), radii_mm=(12.0, 12.0, 12.0), rotation=np.eye(3), size_class="small",
                  shape_seed=seed, texture_seed=2, lobulation=0.0, irregularity=0.0, edge_width_mm=1.0,
                  margin_mm=4.0, margin_scale_mm=1.5, intensity=IntensitySpec(contrast_hu=-40.0, texture_hu=0.0))
        loose = render.render_lesions(prep, [TumorSpec(**kw)]).case
        if ndi.label(loose.tumor, structure=np.ones((3, 3, 3)))[1] > 1:
            found = kw
            break
    assert found, "no margin draw threw off an island"
    one = render.render_lesions(prep, [TumorSpec(**found, single_component=True)]).case
    labels, n = ndi.label(one.tumor, structure=np.ones((3, 3, 3)))
    assert n == 1
    assert one.tumor.sum() == max(np.bincount(ndi.label(loose.tumor, structure=np.ones((3, 3, 3)))[0].ravel())[1:])
    # away from the kept part (beyond the blur's reach) the image is the input's
    far = ndi.distance_transform_edt(~one.tumor, sampling=spacing) > 4.0
    np.testing.assert_array_equal(one.image[far], case.image[far])
    assert not np.array_equal(loose.image[far], case.image[far])  # the islands' own HU and blur
