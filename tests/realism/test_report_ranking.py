"""The realism report ranks features worst-matched first, each with the preset keys that move it."""

from __future__ import annotations

import numpy as np

from synthtumor.realism import FEATURE_PRESET_KEYS, FEATURES, SideCount, compare_lesions, format_report, worst_first
from synthtumor.realism.compare import compare_features


def _rows(rng, n, contrast, volume):
    return [{"volume_ml": v, "equivalent_radius_mm": (3 * v * 1000 / (4 * np.pi)) ** (1 / 3), "sphericity": s,
             "irregularity": 1.05, "contrast_hu": c, "std_hu": 15.0, "glcm_contrast": 2.0,
             "glcm_homogeneity": 0.5, "edge_width_mm": 2.0}
            for v, s, c in zip(rng.lognormal(np.log(volume), 0.3, n), rng.normal(0.8, 0.02, n),
                               rng.normal(contrast, 3.0, n))]


def test_every_feature_has_a_preset_key():
    assert set(FEATURES) <= set(FEATURE_PRESET_KEYS)


def test_worst_first_and_the_report_section():
    rng = np.random.default_rng(0)
    real, synthetic = _rows(rng, 40, -30.0, 8.0), _rows(rng, 40, -60.0, 8.0)  # contrast far off, volume alike
    ranked = worst_first(compare_features(real, synthetic))
    assert ranked[0].feature == "contrast_hu"
    comparison = compare_lesions(real, synthetic, np.random.default_rng(0), n_resamples=50, n_permutations=0)
    text = format_report(comparison, [SideCount("real", 40, 0, 4, "r"), SideCount("synthetic", 40, 0, 4, "s")],
                         min_volume_ml=0.05, seed=0)
    section = text.split("## What to change, worst-matched feature first")[1].split("## Per feature")[0]
    first = [line for line in section.splitlines() if line.startswith("| 1 |")][0]
    assert "contrast_hu" in first and "too low" in first and "appearance.<phase>.contrast_hu" in first
