"""Heuristic appearance and size laws: contrast, internal noise, edge width, radii in mm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.special import erfc

from synthtumor.generators import GeneratorConfig, HeuristicGenerator
from synthtumor.generators.config import AppearanceLaw
from synthtumor.lesions.render import render_lesions
from synthtumor.lesions.spec import IntensitySpec, TumorSpec

from tests.conftest import blob_case

SHELL_MM = 5.0


def shell_contrast(case, out, mask):
    """Mean HU inside the (eroded) lesion minus the mean of a 5 mm parenchymal shell."""
    dist_out = ndi.distance_transform_edt(~mask, sampling=case.spacing)
    shell = (dist_out > 1.5) & (dist_out <= SHELL_MM + 1.5) & case.organ & ~out.tumor
    if case.vessels is not None:
        shell &= ~ndi.binary_dilation(case.vessels, iterations=1)
    dist_in = ndi.distance_transform_edt(mask, sampling=case.spacing)
    core = dist_in > 1.5
    return out.image[core].mean() - out.image[shell].mean(), out.image[core].std()


@pytest.mark.parametrize(
    "preset, phase",
    [("liver_metastasis", "portal"), ("liver_hcc", "arterial"), ("liver_hcc", "portal"),
     ("liver_cyst", "portal"), ("liver_hemangioma", "delayed"), ("liver_metastasis", "native")],
)
def test_each_presets_contrast_is_within_its_range(preset, phase):
    case = blob_case(phase=phase, vessels=False)
    config = GeneratorConfig.from_preset(preset)
    law = config.law_for(phase)
    gen = HeuristicGenerator.from_preset(
        preset, counts={"small": [1, 1]}, size_classes_mm={"small": 10},
        appearance={phase if phase in config.appearance else "default": {"patterns": {"homogeneous": 1}}},
        mass_effect_strength=[0, 0],
    )
    prep = gen.prepare(case)
    if law.target_hu is not None:
        lo, hi = (t - prep.parenchyma_median_hu for t in law.target_hu)
    else:
        lo, hi = law.contrast_hu
    for seed in range(4):
        specs = gen.sample(prep, np.random.default_rng(seed))
        out = gen.render(prep, specs)
        contrast, inner_std = shell_contrast(case, out, out.tumor)
        assert lo - 6 <= contrast <= hi + 6, (contrast, lo, hi)
        # the lesion carries the scan's noise: never smoother than its surroundings
        assert inner_std >= 0.7 * prep.noise_sigma_hu


def flat_case(spacing):
    case = blob_case(spacing=spacing, noise=0.0, vessels=False)
    return case.replace(image=np.where(case.organ, 100.0, case.image).astype(np.float32))


@pytest.mark.parametrize("width_mm", [1.0, 2.0, 4.0])
def test_edge_rise_width_matches_the_configured_width(width_mm):
    case = flat_case((1.0, 1.0, 1.0))
    spec = TumorSpec(
        centre_mm=(0.3, 0.2, 0.1), radii_mm=(12, 12, 12), rotation=np.eye(3), size_class="small",
        shape_seed=0, texture_seed=0, lobulation=0.0, irregularity=0.0, edge_width_mm=width_mm,
        intensity=IntensitySpec(contrast_hu=-100.0, texture_hu=0.0),
    )
    from synthtumor.anatomy import prepare_case

    out = render_lesions(prepare_case(case), [spec]).case
    centre = np.rint(np.linalg.solve(case.affine, [0.3, 0.2, 0.1, 1])[:3]).astype(int)
    profile = out.image[centre[0]:, centre[1], centre[2]].astype(float)
    x = np.arange(profile.size) * case.spacing[0]
    norm = (profile - profile[0]) / (100.0 - profile[0])  # 0 inside, 1 in the parenchyma
    first = int(np.argmax(norm > 0.95)) + 5
    x10 = np.interp(0.1, norm[:first], x[:first])
    x90 = np.interp(0.9, norm[:first], x[:first])
    voxel_pv = 2.563 * 0.2887 * case.spacing[0]  # the partial-volume term the renderer adds
    expected = np.hypot(width_mm, voxel_pv)
    assert abs((x90 - x10) - expected) <= case.spacing[0]
    assert abs((x90 - x10) - width_mm) <= case.spacing[0]


@pytest.mark.parametrize("spacing", [(0.7, 0.7, 5.0), (1.0, 1.0, 1.0)], ids=["aniso", "iso"])
def test_radii_follow_the_size_laws_in_mm(spacing):
    case = blob_case(spacing=spacing, vessels=False)
    gen = HeuristicGenerator.from_preset(
        "liver_metastasis", counts={"tiny": [2, 2], "small": [1, 1]},
        lobulation=[0, 0], irregularity=[0, 0], placement={"on_no_room": "error"},
    )
    prep = gen.prepare(case)
    bases = {"tiny": [], "small": []}
    volumes = []
    for seed in range(40):
        specs = gen.sample(prep, np.random.default_rng(seed))
        for s in specs:
            bases[s.size_class].append(np.array(s.radii_mm))
        if seed < 6:
            result = gen.render_result(prep, specs)
            for s, les in zip(specs, result.lesions):
                if s.size_class == "small":
                    volumes.append((les.volume_ml, 4 / 3 * np.pi * np.prod(s.radii_mm) / 1000))
    for cls, base in (("tiny", 4.0), ("small", 8.0)):
        radii = np.concatenate(bases[cls])
        assert radii.min() >= base * 0.75 * 0.85 - 1e-9 and radii.max() <= base * 1.25 * 1.15 + 1e-9
        assert np.mean(radii) == pytest.approx(base, rel=0.06)  # E[U(.75,1.25) U(.85,1.15)] = 1
    # rendered volumes match the ellipsoid's, whatever the spacing
    measured, analytic = np.array(volumes).T
    assert np.median(measured / analytic) == pytest.approx(1.0, abs=0.12)


def test_patterns_show_their_features():
    case = flat_case((1.0, 1.0, 1.0))
    from synthtumor.anatomy import prepare_case

    prep = prepare_case(case)

    def render(full=False, **look):
        spec = TumorSpec(centre_mm=(0, 0, 0), radii_mm=(15, 15, 15), rotation=np.eye(3), size_class="medium",
                         shape_seed=1, texture_seed=1, lobulation=0, irregularity=0, edge_width_mm=1.0,
                         intensity=IntensitySpec(texture_hu=0.0, **look))
        out = render_lesions(prep, [spec]).case
        if full:
            return out
        centre = np.rint(np.linalg.solve(case.affine, [0, 0, 0, 1])[:3]).astype(int)
        return out.image[centre[0]:centre[0] + 20, centre[1], centre[2]]

    necrotic = render(pattern="necrotic_core", contrast_hu=-30, necrosis_fraction=0.5, necrosis_hu=15)
    assert necrotic[0] == pytest.approx(15, abs=3) and necrotic[10] == pytest.approx(70, abs=4)
    rim = render(pattern="enhancing_rim", contrast_hu=-30, rim_hu=50, rim_width_mm=2)
    assert rim[14] > rim[5] + 25
    capsule = render(pattern="capsule", contrast_hu=-20, rim_hu=40, rim_width_mm=2)
    assert capsule[14] > capsule[5] + 15
    calcified = render(full=True, pattern="homogeneous", contrast_hu=-30, calcifications=2, calcification_hu=500)
    inside = calcified.image[calcified.tumor]
    assert inside.max() > 400 and np.median(inside) == pytest.approx(70, abs=2)
    assert (inside > 200).sum() < 0.02 * inside.size  # specks, not a bright lesion


def _rim_lesion(profile: str):
    rot = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    look = IntensitySpec(pattern="enhancing_rim", contrast_hu=-40.0, texture_hu=0.0, rim_hu=40.0, rim_width_mm=2.5,
                         rim_profile=profile)
    return TumorSpec(centre_mm=(0.0, 0.0, 0.0), radii_mm=(10.0, 10.0, 10.0), rotation=rot, size_class="small",
                     shape_seed=1, texture_seed=2, lobulation=0.0, irregularity=0.0, edge_width_mm=0.3,
                     intensity=look)


@pytest.mark.parametrize("profile", ["gaussian", "band"])
def test_a_band_rim_keeps_its_brightness_to_its_width_where_a_gaussian_rim_fades(profile):
    """rim_profile band: a plateau to rim_width_mm (then a 0.5 mm soft edge); gaussian: exp(-d^2 / 2 w^2)."""
    from synthtumor.lesions.shape import lesion_box, lesion_field
    from synthtumor.lesions.texture import lesion_delta_hu

    affine = np.diag([0.5, 0.5, 0.5, 1.0])
    affine[:3, 3] = -15.0
    spec = _rim_lesion(profile)
    box = lesion_box(spec, affine, (61, 61, 61))
    field = lesion_field(spec, affine, box)
    delta = lesion_delta_hu(spec, field, np.array([0.5, 0.5, 0.5]), 100.0)
    depth = -field.signed_mm
    at_1mm = float(np.median(delta[(depth > 0.9) & (depth < 1.1)]))
    at_2mm = float(np.median(delta[(depth > 1.9) & (depth < 2.1)]))
    deep = float(np.median(delta[depth > 8.0]))
    assert deep == pytest.approx(-40.0, abs=1.0)
    for d, value in ((1.0, at_1mm), (2.0, at_2mm)):
        if profile == "band":  # the plateau to 2.5 mm, then a 0.5 mm soft edge
            expected = -40.0 + 40.0 * 0.5 * erfc((d - 2.5) / (0.5 * np.sqrt(2.0)))
        else:
            expected = -40.0 + 40.0 * np.exp(-d * d / (2 * 2.5**2))
        assert value == pytest.approx(expected, abs=2.0)
    if profile == "band":
        assert at_1mm > -2.0 and at_2mm > -8.0


def test_necrosis_by_size_moves_the_necrotic_share_with_the_radius():
    law = AppearanceLaw.from_dict({"patterns": {"homogeneous": 3, "enhancing_rim": 1, "necrotic_core": 5},
                                   "necrosis_by_size": {"radius_mm": 15, "steepness": 4, "max_prob": 0.8}}, "portal")
    assert law.pattern_weights(None) == law.patterns  # no radius: the weights as written
    at_r = law.pattern_weights(15.0)
    assert at_r["necrotic_core"] == pytest.approx(0.4)
    assert at_r["homogeneous"] == pytest.approx(0.6 * 0.75) and at_r["enhancing_rim"] == pytest.approx(0.6 * 0.25)
    assert law.pattern_weights(5.0)["necrotic_core"] < 0.01 < 0.75 < law.pattern_weights(60.0)["necrotic_core"]


@pytest.mark.parametrize("value, key", [
    ({"radius_mm": 0, "steepness": 4, "max_prob": 0.5}, "necrosis_by_size.radius_mm"),
    ({"radius_mm": 10, "steepness": 25, "max_prob": 0.5}, "necrosis_by_size.steepness"),
    ({"radius_mm": 10, "steepness": 4, "max_prob": 1.5}, "necrosis_by_size.max_prob"),
    ({"radius_mm": 10, "steepness": 4}, "necrosis_by_size"),
    ([10, 4], "necrosis_by_size"),
])
def test_a_bad_necrosis_by_size_is_refused_naming_its_key(value, key):
    from synthtumor.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        AppearanceLaw.from_dict({"necrosis_by_size": value}, "portal")


def test_a_bad_rim_profile_is_refused():
    from synthtumor.errors import ConfigError

    with pytest.raises(ConfigError, match="rim_profile"):
        AppearanceLaw.from_dict({"rim_profile": "ring"}, "portal")
