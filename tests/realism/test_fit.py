"""fit_preset: measured lesions -> a preset generate reads; deterministic; refuses too few lesions."""

from __future__ import annotations

import pytest
import yaml

from synthtumor.errors import SynthTumorError
from synthtumor.generators import HeuristicGenerator
from synthtumor.generators.config import GeneratorConfig
from synthtumor.io import save_case
from synthtumor.io.case_io import write_cases_index
from synthtumor.realism import TooFewLesionsError
from synthtumor.realism.fit import fit_preset
from tests.commands.test_realism import real_case
from tests.conftest import blob_case
from tests.generators.test_heuristic_invariants import drawn_with_invariants


def annotated_dataset(root, seeds=(0, 1, 2)):
    """Case folders of blob livers with 2 blurred hypo-attenuating balls each (6 lesions)."""
    for seed in seeds:
        save_case(real_case(seed), root)
    write_cases_index(root, [f"real{s}" for s in seeds], name="annotated", description="test lesions")
    return root


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    return annotated_dataset(tmp_path_factory.mktemp("annotated"))


@pytest.fixture(scope="module")
def fitted(annotated):
    return fit_preset(annotated, base="liver_metastasis", rounds=2, lesions_per_round=12)


def test_fitted_preset_records_provenance_and_fitted_laws(fitted, annotated):
    prov = fitted["provenance"]
    assert prov["lesions"] == 6 and prov["cases"] == 3 and prov["dataset"] == str(annotated)
    assert prov["phase"] == "portal" and prov["base"] == "liver_metastasis"
    assert len(prov["calibration"]) == 2
    assert fitted["size_law"]["kind"] == "lognormal"  # fewer than 30 lesions
    # the size law sits near the measured radii (5-9 mm balls, ~5.5-9 mm measured)
    assert 4.0 < fitted["size_law"]["median"] < 11.0
    assert fitted["count_law"]["values"] == [2.0, 2.0, 2.0]
    law = fitted["appearance"]["portal"]
    assert law["contrast_hu"]["kind"] == "normal" and -60 < law["contrast_hu"]["mean"] < -15
    # the lesions are plain blurred balls: their interiors say homogeneous (no rim, no necrotic core)
    assert law["patterns"] == {"homogeneous": 1.0, "enhancing_rim": 0.0, "necrotic_core": 0.0}
    assert "necrosis_by_size" not in law and prov["patterns"]["necrotic"] == 0
    assert fitted["placement"]["on_no_room"] == "skip"
    GeneratorConfig.from_dict(yaml.safe_load(yaml.safe_dump(fitted)))  # the YAML round trip reads


def test_fit_is_deterministic(annotated, fitted):
    again = fit_preset(annotated, base="liver_metastasis", rounds=2, lesions_per_round=12)
    assert yaml.safe_dump(again) == yaml.safe_dump(fitted)


def test_fitted_preset_keeps_the_generator_invariants(fitted, tmp_path):
    path = tmp_path / "fitted.yaml"
    path.write_text(yaml.safe_dump(fitted))
    gen = HeuristicGenerator.from_preset(str(path))
    case = blob_case(spacing=(1.0, 1.0, 1.0), tumor=True, avoid=True)
    prep = gen.prepare(case)
    assert drawn_with_invariants(gen, case, prep) > 0


def test_too_few_or_no_lesions_is_a_one_line_error(tmp_path):
    few = annotated_dataset(tmp_path / "few", seeds=(0, 1))  # 4 lesions
    with pytest.raises(TooFewLesionsError, match="4 measurable lesion.*at least 5"):
        fit_preset(few, rounds=0)
    none = tmp_path / "none"
    save_case(blob_case(spacing=(2.0, 2.0, 2.0)), none)
    write_cases_index(none, ["blob0"], name="healthy", description="no lesion")
    with pytest.raises(TooFewLesionsError, match="0 measurable lesion") as info:
        fit_preset(none, rounds=0)
    assert isinstance(info.value, SynthTumorError) and "\n" not in str(info.value)


def test_phase_selects_cases(annotated):
    with pytest.raises(SynthTumorError, match="no case in the arterial phase"):
        fit_preset(annotated, phase="arterial", rounds=0)
