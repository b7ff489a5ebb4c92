"""Heuristic generator invariants: inside the organ, clear of vessels, nothing else touched."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthtumor import load_case
from synthtumor.generators import HeuristicGenerator
from synthtumor.lesions.spec import specs_from_json, specs_to_json

from tests.conftest import blob_case


def check_invariants(case, out, result, clearance_mm):
    old = case.tumor if case.tumor is not None else np.zeros(case.shape, bool)
    new = out.tumor & ~old
    assert new.any()
    # every new tumour voxel inside the (possibly displaced) organ
    assert not (new & ~out.organ).any()
    # at least the clearance from the output vessel mask
    if out.vessels is not None and out.vessels.any():
        dist = ndi.distance_transform_edt(~out.vessels, sampling=case.spacing)
        assert dist[new].min() >= clearance_mm - 1e-6
    # no overlap with avoid or existing tumours, which stay exactly as they were
    if case.avoid is not None:
        assert not (new & case.avoid).any()
        np.testing.assert_array_equal(out.avoid, case.avoid)
    if case.tumor is not None:
        assert out.tumor[case.tumor].all()
        np.testing.assert_array_equal(out.image[case.tumor], case.image[case.tumor])
    # outside the union of lesion zones: bit-identical image and masks
    zone = np.zeros(case.shape, bool)
    for box in result.zones:
        zone[box] = True
    np.testing.assert_array_equal(out.image[~zone], case.image[~zone])
    np.testing.assert_array_equal(out.organ[~zone], case.organ[~zone])
    if case.vessels is not None:
        np.testing.assert_array_equal(out.vessels[~zone], case.vessels[~zone])
    # label and image consistent: label 2 exactly where tumour, tumours changed the image
    assert ((out.label == 2) == out.tumor).all()
    assert (out.image[new] != case.image[new]).mean() > 0.95


def drawn_with_invariants(gen, case, prep, seeds=range(3)) -> int:
    """Sample and render one call per seed, checking the invariants of each; the lesions drawn."""
    drawn = 0
    for seed in seeds:
        specs = gen.sample(prep, np.random.default_rng(seed))
        drawn += len(specs)
        if specs:
            result = gen.render_result(prep, specs)
            check_invariants(case, result.case, result, gen.config.placement.vessel_clearance_mm)
    return drawn


@pytest.mark.parametrize("preset", ["liver_metastasis", "liver_hcc", "liver_cyst", "liver_hemangioma", "mixed"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0)], ids=["1mm", "aniso"])
def test_invariants_on_synthetic_organs(preset, spacing):
    case = blob_case(spacing=spacing, tumor=True, avoid=True)
    gen = HeuristicGenerator.from_preset(preset)
    prep = gen.prepare(case)
    for seed in range(3):
        specs = gen.sample(prep, np.random.default_rng(seed))
        result = gen.render_result(prep, specs)
        check_invariants(case, result.case, result, gen.config.placement.vessel_clearance_mm)


def test_invariants_hold_and_each_lesion_is_one_part_with_single_component():
    """A wide infiltrative margin and lesions wrapping the vessels leave islands; with
    single_component (fitted presets) each lesion is one 26-connected part, invariants intact."""
    case = blob_case(tumor=True, avoid=True)
    rough = {"margin_mm": [3.0, 5.0], "margin_scale_mm": [1.5, 3.0], "placement": {"vessel_reach": 0.3}}
    for single in (False, True):
        gen = HeuristicGenerator.from_preset("liver_metastasis", single_component=single, **rough)
        prep = gen.prepare(case)
        parts = []
        for seed in range(3):
            specs = gen.sample(prep, np.random.default_rng(seed))
            result = gen.render_result(prep, specs)
            check_invariants(case, result.case, result, gen.config.placement.vessel_clearance_mm)
            new = result.case.tumor & ~case.tumor
            parts.append((ndi.label(new, structure=np.ones((3, 3, 3)))[1], len(specs)))
        if single:
            assert all(n <= k for n, k in parts)
        else:
            assert any(n > k for n, k in parts)  # the islands the option removes


def test_invariants_with_mass_effect_and_large_clearance():
    case = blob_case()
    gen = HeuristicGenerator.from_preset(
        "liver_hcc", counts={"large": [1, 1], "small": [2, 2], "medium": [0, 0]},
        size_classes_mm={"large": 14, "small": 6, "medium": 12},
        mass_effect_min_radius_mm=10, mass_effect_strength=[0.4, 0.4],
        placement={"vessel_clearance_mm": 5, "on_no_room": "skip"},
    )
    prep = gen.prepare(case)
    specs = gen.sample(prep, np.random.default_rng(3))
    assert specs[0].mass_effect == pytest.approx(0.4)
    result = gen.render_result(prep, specs)
    check_invariants(case, result.case, result, 5.0)
    # the vessels moved, but only inside the zone, and they are still vessels
    assert result.case.vessels.sum() == pytest.approx(case.vessels.sum(), rel=0.1)


def test_invariants_on_the_real_scan(totalseg_example):
    case = load_case(totalseg_example / "ct.nii.gz", totalseg_example / "seg.nii.gz", "totalsegmentator",
                     phase="native")
    gen = HeuristicGenerator.from_preset("mixed")
    prep = gen.prepare(case)
    for seed in range(2):
        result = gen.render_result(prep, gen.sample(prep, np.random.default_rng(seed)))
        check_invariants(case, result.case, result, 2.0)


def test_same_seed_same_bytes_and_replay_from_json():
    case = blob_case()
    gen = HeuristicGenerator.from_preset("mixed")
    prep = gen.prepare(case)
    a = gen.sample(prep, np.random.default_rng(7))
    b = gen.sample(prep, np.random.default_rng(7))
    assert specs_to_json(a) == specs_to_json(b)
    out_a = gen.render(prep, a)
    replayed = gen.render(gen.prepare(case), specs_from_json(specs_to_json(a)))
    np.testing.assert_array_equal(out_a.image, replayed.image)
    np.testing.assert_array_equal(out_a.tumor, replayed.tumor)
    other = gen.render(prep, gen.sample(prep, np.random.default_rng(8)))
    assert not np.array_equal(out_a.tumor, other.tumor)
    # the input case is never modified
    np.testing.assert_array_equal(case.image, blob_case().image)
