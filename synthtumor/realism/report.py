"""Realism outputs: CSV tables, the Markdown report and the feature histograms (PNG).

Every file is written to a temporary name beside its target, then renamed into place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from synthtumor.io.tables import write_csv_atomic
from synthtumor.realism.classifier import ClassifierTest
from synthtumor.realism.compare import (FEATURE_PRESET_KEYS, FeatureComparison, RealismComparison, SideCount,
                                       feature_matrix, worst_first)
from synthtumor.realism.features import FEATURE_UNITS

__all__ = ["write_csv_atomic", "format_report", "auc_line", "plot_features", "FEATURE_DEFINITIONS", "what_to_change"]

FEATURE_DEFINITIONS: dict[str, str] = {
    "volume_ml": "voxel count x voxel volume",
    "equivalent_radius_mm": "radius of the sphere of the same volume, (3V / 4pi)^(1/3)",
    "sphericity": "pi^(1/3) (6V)^(2/3) / A on the marching-cubes mesh (V enclosed by the mesh); "
                  "~0.9-0.93 for a voxelised ball at isotropic spacing, lower at thick slices",
    "irregularity": "mesh area / convex-hull area: ~1 when convex whatever the elongation, > 1 when "
                    "lobulated or spiculated",
    "contrast_hu": "mean HU inside minus mean HU of organ voxels 0-5 mm outside (no vessel, no tumour)",
    "std_hu": "HU standard deviation inside the lesion",
    "glcm_contrast": "GLCM contrast, HU window [lo, hi] in N levels, distance 1 pixel, 4 in-plane "
                     "angles, pooled over axial slices",
    "glcm_homogeneity": "GLCM homogeneity (same matrices)",
    "edge_width_mm": "10-90 % rise of the mean HU profile across the surface (0.5 mm bins, -6..+6 mm); "
                     "NaN when the lesion differs from its surroundings by < 10 HU",
}


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}"


def auc_line(comparison: RealismComparison) -> str:
    """One line: the classifier AUC with its CI and the lesion counts."""
    t = comparison.classifier
    chance = (f"; chance alone {t.chance_low:.2f}-{t.chance_high:.2f}, p = {_fmt(t.p_value, 2)}"
              if t.n_permutations else "")
    return (f"classifier AUC {t.auc:.3f} (95 % CI {t.ci_low:.3f}-{t.ci_high:.3f}; 0.5 = indistinguishable"
            f"{chance}), {t.n_real} real vs {t.n_synthetic} synthetic lesions")


def _side_line(count: SideCount, min_volume_ml: float) -> str:
    skipped = f"; {count.skipped} below {min_volume_ml:g} mL skipped" if count.skipped else ""
    return f"- {count.side}: `{count.dataset}`: {count.cases} cases, {count.lesions} lesions measured{skipped}"


def _table(rows: Sequence[FeatureComparison]) -> list[str]:
    lines = ["| feature | unit | n real | n synthetic | median real | median synthetic | Wasserstein | "
             "W / pooled SD | KS D | KS p |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.feature} | {r.unit} | {r.n_real} | {r.n_synthetic} | {_fmt(r.median_real)} | "
                     f"{_fmt(r.median_synthetic)} | {_fmt(r.wasserstein)} | {_fmt(r.wasserstein_std, 3)} | "
                     f"{_fmt(r.ks_statistic, 3)} | {_fmt(r.ks_pvalue, 3)} |")
    return lines


def what_to_change(rows: Sequence[FeatureComparison]) -> list[str]:
    """The report's table of features, worst matched first, each with the preset keys that move it."""
    lines = ["| rank | feature | median real | median synthetic | synthetic is | KS D | KS p "
             "| preset keys that move it |",
             "|---:|---|---:|---:|---|---:|---:|---|"]
    for rank, r in enumerate(worst_first(rows), 1):
        if math.isfinite(r.median_real) and math.isfinite(r.median_synthetic) and r.median_real != r.median_synthetic:
            side = "too high" if r.median_synthetic > r.median_real else "too low"
        else:
            side = "-"
        lines.append(f"| {rank} | {r.feature} | {_fmt(r.median_real)} | {_fmt(r.median_synthetic)} | {side} | "
                     f"{_fmt(r.ks_statistic, 3)} | {_fmt(r.ks_pvalue, 3)} | "
                     f"{FEATURE_PRESET_KEYS.get(r.feature, '-')} |")
    return lines


def _chance_lines(t: ClassifierTest) -> list[str]:
    if not t.n_permutations:
        return []
    if t.p_value < 0.05:
        verdict = "so the classifier does tell the sides apart better than chance"
    elif t.auc < t.chance_low:
        verdict = ("below the chance band: no sign that synthetic lesions stand out (so low an AUC usually "
                   "means both sides share structure, e.g. lesions in the same source scans, that "
                   "cross-validation turns against itself)")
    else:
        verdict = "so this AUC is within what chance alone gives: no evidence the sides differ"
    return [
        f"Chance level at these counts: the same procedure on {t.n_permutations} random relabellings of the "
        f"lesions gave AUCs from {t.chance_low:.3f} to {t.chance_high:.3f} (central 95 %); one-sided "
        f"permutation p = {_fmt(t.p_value, 3)}, {verdict}.",
        "",
    ]


def format_report(
    comparison: RealismComparison,
    counts: Sequence[SideCount],
    *,
    min_volume_ml: float,
    seed: int,
    glcm_window_hu: Sequence[float] = (-100.0, 300.0),
    glcm_levels: int = 32,
) -> str:
    """The Markdown report: lesion counts, the classifier AUC with its CI, the per-feature table."""
    t = comparison.classifier
    weights = sorted(zip(comparison.features, t.coefficients), key=lambda fw: -abs(fw[1]))
    leaning = ", ".join(f"{name} {w:+.2f}" for name, w in weights)
    lines = ["# synthtumor realism: real vs synthetic lesions", ""]
    lines += [_side_line(c, min_volume_ml) for c in counts]
    lines += [
        "- a lesion is a 26-connected tumour component; one row per lesion in `features.csv`, per-feature "
        "distances in `comparison.csv`, histograms in `features.png`",
        "", "## Can a classifier tell them apart?", "",
        f"**AUC {t.auc:.3f} (95 % CI {t.ci_low:.3f} to {t.ci_high:.3f})**: logistic regression on the "
        f"{len(comparison.features)} standardised features, {t.folds}-fold stratified cross-validation repeated "
        f"{t.repeats} times, {t.n_real} real vs {t.n_synthetic} synthetic lesions.",
        "",
        "0.5 means the classifier cannot tell synthetic lesions from real ones on these features "
        "(indistinguishable); 1.0 means it separates them perfectly. The AUC is the probability that a "
        "random synthetic lesion scores as more synthetic than a random real one (Mann-Whitney U).",
        "",
        f"The 95 % CI is a percentile bootstrap over lesions ({t.n_resamples} stratified resamples of the "
        f"out-of-fold scores; the model is not refitted, and lesions of one case count as independent); "
        f"folds and resamples drawn from numpy default_rng({seed}).",
        "",
        *_chance_lines(t),
        f"Weights of a model fitted on all lesions (per standard deviation; + means larger values look "
        f"synthetic): {leaning}.",
        "", "## What to change, worst-matched feature first", "",
        "Ranked by the KS statistic D (then by Wasserstein / pooled SD). Change the preset key beside a "
        "feature (`synthtumor generate --set KEY=VALUE`, or edit the preset), or let `synthtumor fit-preset "
        "--real YOUR_ANNOTATED_SCANS --out mine.yaml` set them all from annotated lesions.",
        "",
        *what_to_change(comparison.per_feature),
        "", "## Per feature", "",
        "Over lesions with a finite value. Wasserstein: 1-D earth mover's distance in the feature's unit; "
        "W / pooled SD: the same over the standard deviation of both sides pooled (0 identical, ~1 "
        "shifted by a whole spread); KS: two-sample Kolmogorov-Smirnov statistic and two-sided p-value.",
        "",
    ]
    lines += _table(comparison.per_feature)
    lo, hi = glcm_window_hu
    lines += ["", "## Features", ""]
    for name in comparison.features:
        text = FEATURE_DEFINITIONS.get(name, "")
        text = text.replace("[lo, hi]", f"[{lo:g}, {hi:g}]").replace("in N levels", f"in {glcm_levels} levels")
        lines.append(f"- `{name}` ({FEATURE_UNITS.get(name, '')}): {text}")
    lines.append("")
    return "\n".join(lines)


def plot_features(
    real_rows: Sequence[Mapping[str, Any]],
    synthetic_rows: Sequence[Mapping[str, Any]],
    features: Sequence[str],
    path: Path,
    *,
    bins: int = 20,
) -> None:
    """One panel per feature: real and synthetic histograms (density, shared bins), as PNG.

    Args:
        real_rows: rows of real lesions.
        synthetic_rows: rows of synthetic lesions.
        features: feature names, one panel each.
        path: the PNG to write (atomically).
        bins: histogram bins per panel.
    """
    real, synthetic = feature_matrix(real_rows, features), feature_matrix(synthetic_rows, features)
    cols = 3
    rows = max(1, math.ceil(len(features) / cols))
    fig = Figure(figsize=(4.0 * cols, 3.0 * rows), dpi=90)
    for j, name in enumerate(features):
        ax = fig.add_subplot(rows, cols, j + 1)
        r, s = real[:, j], synthetic[:, j]
        r, s = r[np.isfinite(r)], s[np.isfinite(s)]
        pooled = np.concatenate([r, s])
        if pooled.size:
            lo, hi = float(pooled.min()), float(pooled.max())
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
            for values, label, colour in ((r, f"real (n={r.size})", "tab:blue"),
                                          (s, f"synthetic (n={s.size})", "tab:orange")):
                if values.size:
                    ax.hist(values, bins=edges, density=True, alpha=0.5, color=colour, label=label)
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{name} ({FEATURE_UNITS.get(name, '')})", fontsize=10)
        ax.tick_params(labelsize=8)
    fig.suptitle("lesion features: real vs synthetic (density histograms)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    os.replace(tmp, path)
