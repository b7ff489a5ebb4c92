"""``run_realism`` end to end on two tiny case-folder datasets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from synthtumor.commands.realism import COMPARISON_COLUMNS, FEATURE_COLUMNS, run_realism
from synthtumor.errors import ConfigError, DatasetLayoutError
from synthtumor.generators.heuristic import HeuristicGenerator
from synthtumor.io import save_case
from synthtumor.io.case_io import write_cases_index
from synthtumor.realism import FEATURES, TooFewLesionsError
from tests.conftest import blob_case

SPACING = (2.0, 2.0, 2.0)
# (centre mm, radius mm, contrast HU, edge blur sigma mm) per "real" lesion
REAL_LESIONS = {
    0: [((25.0, 0.0, 0.0), 8.0, -45.0, 1.0), ((-25.0, 15.0, 10.0), 6.0, -30.0, 1.5)],
    1: [((20.0, -12.0, 8.0), 9.0, -55.0, 1.2), ((-20.0, 10.0, -15.0), 5.0, -35.0, 0.8)],
    2: [((28.0, 5.0, -5.0), 7.0, -40.0, 1.0), ((-15.0, -15.0, 15.0), 6.5, -50.0, 1.5)],
}


def real_case(seed):
    """blob_case(tumor=True) variants: blurred hypo-attenuating balls drawn into the image."""
    from scipy import ndimage as ndi

    case = blob_case(spacing=SPACING, seed=seed, tumor=True)
    x, y, z = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(case.shape, SPACING)], indexing="ij")
    image, tumor = case.image.copy(), np.zeros(case.shape, bool)
    for (cx, cy, cz), radius, contrast, blur in REAL_LESIONS[seed]:
        ball = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius**2
        image += contrast * ndi.gaussian_filter(ball.astype(np.float32), blur / np.asarray(SPACING))
        tumor |= ball
    return case.replace(image=image, tumor=tumor & case.organ & ~case.vessels, case_id=f"real{seed}")


def synthetic_case(seed):
    generator = HeuristicGenerator.from_preset("liver_metastasis")
    prepared = generator.prepare(blob_case(spacing=SPACING, seed=10 + seed))
    specs = generator.sample(prepared, np.random.default_rng(seed))
    return generator.render(prepared, specs).replace(case_id=f"syn{seed}")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("realism")
    for side, make in (("real", real_case), ("synthetic", synthetic_case)):
        cases = [make(seed) for seed in range(3)]
        for case in cases:
            save_case(case, root / side)
        write_cases_index(root / side, [c.case_id for c in cases], name=side, description=f"{side} test cases")
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_end_to_end_writes_every_output(datasets, tmp_path, capsys):
    out = tmp_path / "out"
    summary = run_realism(datasets / "real", datasets / "synthetic", out, seed=3, n_resamples=400,
                          n_permutations=20)
    printed = capsys.readouterr().out
    assert "classifier AUC" in printed and str(out / "report.md") in printed
    features = read_csv(out / "features.csv")
    assert list(features[0]) == list(FEATURE_COLUMNS)
    real = [r for r in features if r["side"] == "real"]
    assert len(real) == 6 and summary["real_lesions"] == 6 and summary["real_cases"] == 3
    assert len(features) - len(real) == summary["synthetic_lesions"] >= 5
    contrasts = sorted(float(r["contrast_hu"]) for r in real)
    assert all(-60 < c < -15 for c in contrasts)
    comparison = read_csv(out / "comparison.csv")
    assert list(comparison[0]) == list(COMPARISON_COLUMNS)
    assert [r["feature"] for r in comparison] == list(FEATURES)
    assert all(0.0 <= float(r["ks_pvalue"]) <= 1.0 for r in comparison if r["ks_pvalue"] != "nan")
    assert 0.0 <= summary["auc_ci_low"] <= summary["auc"] <= summary["auc_ci_high"] <= 1.0
    assert 0.0 <= summary["auc_chance_low"] <= summary["auc_chance_high"] <= 1.0
    assert 0.0 < summary["auc_p_value"] <= 1.0
    report = (out / "report.md").read_text()
    for needle in ("0.5 means the classifier cannot tell", f"**AUC {summary['auc']:.3f}", "6 lesions measured",
                   "| contrast_hu | HU | 6 |", "percentile bootstrap over lesions (400",
                   "20 random relabellings"):
        assert needle in report
    png = (out / "features.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    stored = json.loads((out / "realism.json").read_text())
    assert stored["auc"] == pytest.approx(summary["auc"]) and stored["options"]["seed"] == 3
    assert not list(out.glob(".*tmp*"))


def test_workers_give_identical_bytes_and_quiet_prints_nothing(datasets, tmp_path, capsys):
    run_realism(datasets / "real", datasets / "synthetic", tmp_path / "one", quiet=True, n_resamples=200,
                n_permutations=5)
    run_realism(datasets / "real", datasets / "synthetic", tmp_path / "two", quiet=True, n_resamples=200,
                n_permutations=5, workers=2)
    assert capsys.readouterr().out == ""
    for name in ("features.csv", "comparison.csv", "report.md", "features.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_too_few_lesions_and_bad_options_are_clear_errors(datasets, tmp_path):
    with pytest.raises(TooFewLesionsError, match=r"real dataset .*real has 0 measurable lesion\(s\) in 3 case\(s\) "
                       r"\(6 more below the minimum volume were skipped\)") as info:
        run_realism(datasets / "real", datasets / "synthetic", tmp_path / "a", quiet=True, min_volume_ml=5.0)
    assert "lower the minimum lesion volume" in str(info.value)
    with pytest.raises(TooFewLesionsError, match="needs at least 12 per side") as info:
        run_realism(datasets / "real", datasets / "synthetic", tmp_path / "b", quiet=True, folds=12)
    assert "use fewer folds" in str(info.value)
    with pytest.raises(ConfigError, match="overlaps the real dataset"):
        run_realism(datasets / "real", datasets / "synthetic", datasets / "real" / "report", quiet=True)
    with pytest.raises(DatasetLayoutError, match="no case in the arterial phase"):
        run_realism(datasets / "real", datasets / "synthetic", tmp_path / "c", quiet=True, phase="arterial")
    assert not (tmp_path / "a").exists()
