"""Fitted-style presets: size and count laws, elongation, sub-nodules, size-aware texture."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.config import GeneratorConfig
from synthtumor.lesions.spec import specs_to_json

from tests.conftest import blob_case
from tests.generators.test_heuristic_invariants import check_invariants, drawn_with_invariants

LAWS = dict(
    size_law={"kind": "lognormal", "median": 6.0, "sigma": 0.4, "low": 3.0, "high": 12.0},
    count_law={"kind": "empirical", "values": [2, 3, 4], "bandwidth": 0},
    elongation={"long": {"kind": "lognormal", "median": 1.3, "sigma": 0.2, "low": 1.0, "high": 3.0},
                "flat": [1.0, 1.3]},
    nodules={"prob": 0.7, "count": [1, 3], "offset": [0.5, 0.9], "scale": [0.4, 0.7], "min_radius_mm": 4},
    irregularity={"kind": "normal", "mean": 0.08, "sd": 0.03, "low": 0.0, "high": 0.2},
    margin_mm=[0.5, 1.5],
    margin_scale_mm=[1.0, 2.0],
    placement={"vessel_reach": 0.4, "vessel_clearance_mm": 1.5, "on_no_room": "skip"},
)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 5.0)], ids=["1mm", "aniso"])
def test_invariants_with_laws_and_nodules(spacing):
    case = blob_case(spacing=spacing, tumor=True, avoid=True)
    gen = HeuristicGenerator.from_preset("liver_metastasis", **LAWS)
    prep = gen.prepare(case)
    multi = 0
    for seed in range(4):
        specs = gen.sample(prep, np.random.default_rng(seed))
        assert 1 <= len(specs) <= 4
        assert all(s.wraps_vessels and s.margin_mm > 0 for s in specs)
        multi += sum(bool(s.nodules) for s in specs)
        result = gen.render_result(prep, specs)
        check_invariants(case, result.case, result, gen.config.placement.vessel_clearance_mm)
    assert multi > 0


def test_same_seed_same_bytes_with_laws():
    case = blob_case()
    gen = HeuristicGenerator.from_preset("liver_metastasis", **LAWS)
    prep = gen.prepare(case)
    a, b = (gen.sample(prep, np.random.default_rng(7)) for _ in range(2))
    assert specs_to_json(a) == specs_to_json(b)
    np.testing.assert_array_equal(gen.render(prep, a).image, gen.render(prep, b).image)


def test_size_law_sets_sizes_and_elongation_keeps_volume():
    case = blob_case()
    gen = HeuristicGenerator.from_preset("liver_metastasis", **{**LAWS, "nodules": {"prob": 0}})
    prep = gen.prepare(case)
    radii = [s.equivalent_radius_mm for seed in range(15) for s in gen.sample(prep, np.random.default_rng(seed))]
    assert 3.0 - 1e-9 <= min(radii) and max(radii) <= 12.0 + 1e-9
    assert 4.5 < float(np.median(radii)) < 8.0


def test_size_aware_texture_grows_with_radius():
    from synthtumor.generators.heuristic import draw_intensity

    law = GeneratorConfig.from_preset("liver_metastasis", appearance={"portal": {
        "texture": [1.0, 1.0], "texture_size_exponent": 0.5, "texture_ref_radius_mm": 10}}).law_for("portal")
    small = draw_intensity(law, np.random.default_rng(0), 10.0, 100.0, radius_mm=2.5)
    large = draw_intensity(law, np.random.default_rng(0), 10.0, 100.0, radius_mm=40.0)
    assert small.texture_hu == pytest.approx(5.0) and large.texture_hu == pytest.approx(20.0)


def test_bad_laws_are_config_errors():
    with pytest.raises(ConfigError, match="go together"):
        GeneratorConfig.from_preset("liver_metastasis", size_law=LAWS["size_law"])
    with pytest.raises(ConfigError, match="unknown law kind"):
        GeneratorConfig.from_preset("liver_metastasis", irregularity={"kind": "cauchy"})
    with pytest.raises(ConfigError, match="prob"):
        GeneratorConfig.from_preset("liver_metastasis", nodules={"prob": 2})


def test_draw_value_is_rng_uniform_with_no_draw_for_a_fixed_value():
    # the fast path (laws.draw_value) against its reference (rng.uniform): the same bits and the
    # same stream after each draw; a fixed value [a, a] takes no draw at all
    from synthtumor.generators.laws import draw_value

    fast, reference, cases = np.random.default_rng(11), np.random.default_rng(11), np.random.default_rng(5)
    for _ in range(2000):
        a = float(cases.uniform(-500, 500))
        b = a if cases.random() < 0.2 else a + float(cases.exponential(50))
        expected = reference.uniform(a, b) if b > a else a
        assert draw_value(fast, (a, b)) == expected
    assert fast.random() == reference.random()


def _vessel_lattice_case():
    """The blob liver with vertical vessels every 16 mm: no point lies more than ~11 mm from one."""
    from synthtumor import Case

    case = blob_case(spacing=(1.5, 1.5, 1.5), vessels=False)
    x, y, _ = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(case.shape, case.spacing)],
                          indexing="ij")
    vessels = (((np.abs((x + 8) % 16 - 8) <= 1.5) & (np.abs((y + 8) % 16 - 8) <= 1.5)) & case.organ)
    image = np.where(vessels, np.float32(170.0), case.image)
    return Case(image=image, affine=case.affine, case_id="lattice", organ=case.organ, vessels=vessels,
                phase=case.phase)


def test_a_large_wrapping_lesion_with_no_room_wraps_the_vessels_rather_than_vanishing():
    case = _vessel_lattice_case()
    laws = {**LAWS, "size_law": {"kind": "lognormal", "median": 20.0, "sigma": 0.05, "low": 19.0, "high": 21.0},
            "count_law": {"kind": "empirical", "values": [1], "bandwidth": 0}, "nodules": {"prob": 0},
            "margin_mm": [0.0, 0.0], "placement": {**LAWS["placement"], "vessel_reach": 0.5, "subcapsular_prob": 1.0}}
    gen = HeuristicGenerator.from_preset("liver_metastasis", **laws)
    prep = gen.prepare(case)
    # 0.5 x 21 mm from every vessel exists nowhere; 0.1 x 21 mm does
    assert drawn_with_invariants(gen, case, prep) == 3
    from synthtumor.lesions.placement import draw_centre

    extent = 21.0 * (1 + 0.2 + 0.2)
    assert draw_centre(prep, extent, 0.0, True, gen.config.placement, [], np.random.default_rng(0), None) is None
