"""build_preset: every knob at its calibration limit still gives a preset generate reads."""

from __future__ import annotations

from synthtumor.generators.config import GeneratorConfig, load_preset_dict
from synthtumor.realism.fit_laws import fit_counts, fit_positive, fit_signed
from synthtumor.realism.fit_patterns import FittedPatterns
from synthtumor.realism.preset_builder import FittedLaws, Knobs, build_preset


def _laws() -> FittedLaws:
    wide = [0.5, 1.0, 2.0, 4.0, 8.0]
    patterns = FittedPatterns(
        patterns={"homogeneous": 0.5, "enhancing_rim": 0.5, "necrotic_core": 0.0},
        necrosis_by_size=(15.0, 4.0, 0.8), rim_hu=fit_positive([20.0, 60.0, 120.0], "rim", floor=1.0),
        rim_width_mm=fit_positive([1.0, 3.0, 6.0], "reach", floor=0.5, cap=20.0),
        necrosis_hu=fit_signed([-150.0, 0.0, 150.0], "core"),
        necrosis_fraction=fit_positive([0.2, 0.5, 0.9], "share", floor=0.1, cap=0.9))
    return FittedLaws(size=fit_positive([3.0, 30.0, 120.0], "r"), count=fit_counts([1, 3], "n"),
                      long=fit_positive([1.1, 2.0], "long", floor=1.0, cap=6.0),
                      flat=fit_positive([1.1, 2.0], "flat", floor=1.0, cap=6.0),
                      contrast=fit_signed([-300.0, -40.0, 250.0], "contrast"), texture=fit_positive(wide, "texture"),
                      texture_exponent=0.5, texture_ref_radius_mm=10.0, edge=fit_positive([1.0, 10.0], "edge"),
                      placement={"subcapsular_prob": 0.5}, patterns=patterns)


def test_knobs_at_their_limits_keep_every_clip_range_inside_what_the_preset_allows():
    base_raw = load_preset_dict("liver_metastasis")
    base = GeneratorConfig.from_dict(base_raw)
    for extreme in (Knobs(size=5.0, contrast=200.0, texture=20.0, edge=20.0, rim=10.0, rim_width=5.0, necrosis=100.0),
                    Knobs(size=0.2, contrast=-200.0, texture=0.05, edge=0.05, rim=0.1, rim_width=0.2, necrosis=-100.0)):
        preset = build_preset(base_raw, base, _laws(), extreme, "portal", "extreme")
        config = GeneratorConfig.from_dict(preset)  # raised ConfigError before the clamp
        law = config.law_for("portal")
        assert law.texture.high <= 10.0 and law.rim_hu.high <= 500.0 and law.rim_width_mm.high <= 20.0
        assert config.size_law.high <= 150.0 and config.edge_width_mm.high <= 20.0
        assert -200.0 <= law.necrosis_hu.low and law.necrosis_hu.high <= 200.0
        assert law.necrosis_by_size == (15.0, 4.0, 0.8) and law.rim_profile == "band"


def test_a_base_size_law_for_necrosis_is_kept_when_the_patterns_are_the_bases_and_replaced_when_fitted():
    from dataclasses import replace

    base_raw = load_preset_dict("liver_metastasis")
    base_raw["appearance"]["portal"]["necrosis_by_size"] = {"radius_mm": 12.0, "steepness": 2.0, "max_prob": 0.5}
    base = GeneratorConfig.from_dict(base_raw)
    kept = replace(_laws(), patterns=FittedPatterns(record={"source": "base preset (too few)"}))
    preset = build_preset(base_raw, base, kept, Knobs(), "portal", "kept")
    assert preset["appearance"]["portal"]["necrosis_by_size"] == {"radius_mm": 12.0, "steepness": 2.0, "max_prob": 0.5}
    fitted_without = replace(_laws(), patterns=replace(_laws().patterns, necrosis_by_size=None))
    preset = build_preset(base_raw, base, fitted_without, Knobs(), "portal", "fitted")
    assert "necrosis_by_size" not in preset["appearance"]["portal"]


def test_the_edge_law_comes_from_lesions_without_rim_or_core_when_there_are_enough():
    from synthtumor.realism.preset_builder import MIN_PLAIN_LESIONS, plain_lesions

    rim = {"rim_hu": 25.0, "core_drop_hu": 0.0}
    core = {"rim_hu": 0.0, "core_drop_hu": 30.0}
    plain = {"rim_hu": 2.0, "core_drop_hu": float("nan")}  # too small for a core band
    rows = [rim] * 4 + [core] * 3 + [plain] * MIN_PLAIN_LESIONS
    assert plain_lesions(rows) == [plain] * MIN_PLAIN_LESIONS
    few = [rim] * 4 + [plain] * (MIN_PLAIN_LESIONS - 1)
    assert plain_lesions(few) == few  # too few plain lesions: all of them
    pairs = [("case", r) for r in rows]
    assert plain_lesions(pairs, lambda item: item[1]) == [("case", plain)] * MIN_PLAIN_LESIONS


def test_the_necrosis_knob_shifts_the_core_hu_law():
    base_raw = load_preset_dict("liver_metastasis")
    base = GeneratorConfig.from_dict(base_raw)
    def law(knobs):
        return GeneratorConfig.from_dict(build_preset(base_raw, base, _laws(), knobs, "portal", "p")).law_for("portal")

    plain, moved = law(Knobs()), law(Knobs(necrosis=-8.0))
    assert moved.necrosis_hu.param("mean") == plain.necrosis_hu.param("mean") - 8.0


def test_the_edge_law_of_thick_slices_keeps_the_edges_it_measured():
    """Plain lesions drawn with a 2 mm edge on 0.8 x 0.8 x 4 mm voxels, measured and fitted: the
    voxel's own width, taken off in quadrature, leaves every edge above the law's 0.5 mm floor
    (the largest spacing, taken instead, floored half of them) and the median near what was drawn."""
    import numpy as np

    from synthtumor.generators.heuristic import HeuristicGenerator
    from synthtumor.realism.lesion_measures import measure_case
    from synthtumor.realism.preset_builder import fit_laws
    from tests.conftest import blob_case

    raw = load_preset_dict("liver_metastasis")
    raw["counts"] = {"tiny": [0, 0], "small": [0, 0], "medium": [2, 2], "large": [0, 0]}
    raw["edge_width_mm"] = [2.0, 2.0]
    for law in raw["appearance"].values():
        law["patterns"] = {"homogeneous": 1.0}
    config = GeneratorConfig.from_dict(raw)
    gen = HeuristicGenerator(config)
    measured = []
    for seed in range(3):
        prep = gen.prepare(blob_case(spacing=(0.8, 0.8, 4.0), seed=seed))
        measured.append(measure_case(gen.render_result(prep, gen.sample(prep, np.random.default_rng(seed))).case))
    edge = fit_laws(measured, config, "portal").edge.fitted
    assert edge["n"] >= 5 and edge["q10"] > 1.0
    assert 1.0 < edge["median"] < 3.5
