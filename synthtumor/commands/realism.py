"""``synthtumor realism``: are synthetic lesions distributed like real ones?

Both datasets may follow any layout :func:`synthtumor.io.load_dataset` reads. Every tumour
component (26-connected) of every case is measured (:mod:`synthtumor.realism.features`: volume,
equivalent radius, sphericity, irregularity, contrast against a 5 mm shell, internal HU spread,
GLCM contrast and homogeneity, edge width); components below ``min_volume_ml`` are skipped and
counted. Then, real versus synthetic: per feature the Wasserstein distance and the KS test, and
a classifier two-sample test, the cross-validated AUC of a logistic regression with a bootstrap
95 % CI and a permutation chance band (:mod:`synthtumor.realism.classifier`; 0.5 means
indistinguishable).

Outputs, each written atomically into ``out``:

* ``features.csv``: one row per lesion: ``side`` (real / synthetic), ``case_id``, ``lesion``
  (component number), ``voxels`` and the features;
* ``comparison.csv``: one row per feature: medians, Wasserstein, Wasserstein / pooled SD, KS
  statistic and p-value;
* ``report.md``: lesion counts, the AUC with its CI, chance band and what they mean, the
  per-feature table;
* ``features.png``: one histogram panel per feature, real over synthetic;
* ``realism.json``: the resolved options and the headline numbers.

Cases are measured in case-id order, real first, and the results gathered in that order, so the
outputs are the same bytes for any number of workers; all randomness (folds, bootstrap) comes from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.case import Phase
from synthtumor.errors import ConfigError, DatasetLayoutError
from synthtumor.io.case_io import write_text_atomic
from synthtumor.io.output_guard import check_output_apart, check_output_free, only_names
from synthtumor.io.scan_checks import check_organ_present
from synthtumor.io.labelmap import LabelMap
from synthtumor.io.layouts import CaseRef, Dataset, load_dataset
from synthtumor.parallel import map_with_progress
from synthtumor.realism.compare import MIN_LESIONS, SideCount, check_lesion_counts, compare_lesions
from synthtumor.realism.features import FEATURES, CaseFeatures, FeatureSettings, case_features
from synthtumor.realism.report import auc_line, format_report, plot_features, write_csv_atomic

__all__ = ["run_realism", "FEATURE_COLUMNS", "COMPARISON_COLUMNS"]

FEATURE_COLUMNS: tuple[str, ...] = ("side", "case_id", "lesion", "voxels", *FEATURES)
COMPARISON_COLUMNS: tuple[str, ...] = ("feature", "unit", "n_real", "n_synthetic", "median_real", "median_synthetic",
                                       "wasserstein", "wasserstein_std", "ks_statistic", "ks_pvalue")
_SIDES = ("real", "synthetic")


OUTPUT_FILES = ("features.csv", "comparison.csv", "report.md", "features.png", "realism.json")


def _check_out(out: Path, inputs: dict[str, Path], overwrite: bool) -> None:
    check_output_apart(out, {f"{name} dataset": folder for name, folder in inputs.items()})
    check_output_free(out, "realism", only_names(*OUTPUT_FILES), overwrite=overwrite)


def _select_phase(dataset: Dataset, phase: Phase | str | None, side: str) -> Dataset:
    if phase is None:
        return dataset
    wanted = Phase.parse(phase).value
    refs = [r for r in dataset.refs if r.phase == wanted]
    if not refs:
        found = sorted({r.phase for r in dataset.refs})
        raise DatasetLayoutError(
            f"the {side} dataset {dataset.root} has no case in the {wanted} phase (its cases are: "
            f"{', '.join(found)}).",
            fix="drop --phase to compare every case; the phase comes from each case's case.json, and "
            "Decathlon, nnU-Net and LiTS cases are 'unknown'.")
    return Dataset(dataset.root, dataset.layout, refs, expect_ct=dataset.expect_ct)


def _measure(job: tuple[CaseRef, FeatureSettings, bool]) -> CaseFeatures:
    ref, settings, expect_ct = job
    case = ref.load(expect_ct)  # finite, CT in HU, grids, spacing: checked while loading
    check_organ_present(case.organ, case.case_id, ref.label_map.name if ref.label_map else None)
    return case_features(case, settings)


def _measure_all(jobs: list[tuple[CaseRef, FeatureSettings, bool]], workers: int, quiet: bool) -> list[CaseFeatures]:
    return map_with_progress(_measure, jobs, workers=workers, quiet=quiet, desc="realism")


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def run_realism(
    real: str | os.PathLike,
    synthetic: str | os.PathLike,
    out: str | os.PathLike,
    *,
    label_map: LabelMap | str | os.PathLike | None = None,
    synthetic_label_map: LabelMap | str | os.PathLike | None = None,
    phase: Phase | str | None = None,
    seed: int = 0,
    workers: int = 1,
    quiet: bool = False,
    min_volume_ml: float = 0.05,
    folds: int = 5,
    n_resamples: int = 2000,
    n_permutations: int = 200,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Compare the lesions of a real and a synthetic dataset (see module docstring).

    Args:
        real: the real dataset folder (any layout).
        synthetic: the synthetic dataset folder (any layout, e.g. what ``synthtumor generate``
            wrote).
        out: the output folder (created); it must not overlap either dataset.
        label_map: label roles of the real dataset (LabelMap, preset name or YAML path); None:
            its layout's own.
        synthetic_label_map: label roles of the synthetic dataset; None: its layout's own (not
            ``label_map``: synthtumor writes 0 background, 1 organ, 2 tumour whatever its input).
        phase: compare only the cases in this contrast phase (from each case's ``case.json``;
            other layouts' cases are ``unknown``); None: every case.
        seed: seed of ``numpy.random.default_rng`` for the folds and the bootstrap.
        workers: worker processes measuring cases (the output does not depend on it).
        quiet: no progress bar and no AUC line on stdout.
        overwrite: write into a non-empty ``out`` holding other files than an earlier report's.
        min_volume_ml: lesions below this volume (mL) are skipped and counted.
        folds: cross-validation folds of the classifier (>= 2).
        n_resamples: bootstrap resamples of the AUC's CI (>= 1).
        n_permutations: label permutations giving the AUC's chance band and p-value (>= 0; 0
            skips them; each costs one more cross-validation).

    Returns:
        What ``realism.json`` holds: ``auc``, ``auc_ci_low``, ``auc_ci_high``, per side
        ``cases``, ``lesions`` and ``skipped`` (``real_lesions``, ...), ``auc_chance_low``,
        ``auc_chance_high`` and ``auc_p_value`` (None without permutations), ``features`` (the ``comparison.csv`` rows),
        ``outputs`` (file paths) and ``options``.

    Raises:
        ConfigError: an option is out of range, or ``out`` overlaps an input.
        DatasetLayoutError: a folder is unreadable, or no case is in ``phase``.
        TooFewLesionsError: a side has fewer than ``max(5, folds)`` measurable lesions.
        SynthTumorError: a case cannot be read.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}.")
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds must be an integer >= 2, got {folds!r}.", fix="use the default, 5.")
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be >= 1, got {n_resamples}.", fix="use the default, 2000.")
    if n_permutations < 0:
        raise ConfigError(f"n_permutations must be >= 0, got {n_permutations}.", fix="use the default, 200.")
    settings = FeatureSettings(min_volume_ml=float(min_volume_ml))
    roots = {"real": Path(real), "synthetic": Path(synthetic)}
    out_root = Path(out)
    _check_out(out_root, roots, overwrite)
    datasets = {
        "real": _select_phase(load_dataset(roots["real"], label_map), phase, "real"),
        "synthetic": _select_phase(load_dataset(roots["synthetic"], synthetic_label_map), phase, "synthetic"),
    }
    jobs = [(ref, settings, datasets[side].expect_ct) for side in _SIDES for ref in datasets[side].refs]
    measured = _measure_all(jobs, workers, quiet)
    per_side: dict[str, list[CaseFeatures]] = {"real": measured[: len(datasets["real"])],
                                               "synthetic": measured[len(datasets["real"]):]}
    rows = {side: [row for case in per_side[side] for row in case.rows] for side in _SIDES}
    counts = [SideCount(side, len(rows[side]), sum(c.skipped for c in per_side[side]), len(per_side[side]),
                        str(roots[side])) for side in _SIDES]
    check_lesion_counts(counts, max(MIN_LESIONS, folds))
    comparison = compare_lesions(rows["real"], rows["synthetic"], np.random.default_rng(seed),
                                 features=FEATURES, folds=folds, n_resamples=n_resamples,
                                 n_permutations=n_permutations)

    out_root.mkdir(parents=True, exist_ok=True)
    paths = {name: out_root / name for name in OUTPUT_FILES}
    feature_rows = [{"side": side, **row} for side in _SIDES for row in rows[side]]
    write_csv_atomic(feature_rows, FEATURE_COLUMNS, paths["features.csv"])
    comparison_rows = [c.as_row() for c in comparison.per_feature]
    write_csv_atomic(comparison_rows, COMPARISON_COLUMNS, paths["comparison.csv"])
    report = format_report(comparison, counts, min_volume_ml=settings.min_volume_ml, seed=seed,
                           glcm_window_hu=settings.glcm_window_hu, glcm_levels=settings.glcm_levels)
    write_text_atomic(report, paths["report.md"])
    plot_features(rows["real"], rows["synthetic"], FEATURES, paths["features.png"])
    test = comparison.classifier
    summary: dict[str, Any] = {
        "auc": test.auc, "auc_ci_low": test.ci_low, "auc_ci_high": test.ci_high,
        "auc_chance_low": _finite(test.chance_low), "auc_chance_high": _finite(test.chance_high),
        "auc_p_value": _finite(test.p_value),
        **{f"{c.side}_{key}": getattr(c, key) for c in counts for key in ("cases", "lesions", "skipped")},
        "features": [{k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()}
                     for row in comparison_rows],
        "outputs": {name: str(path) for name, path in paths.items()},
        "options": {"command": "realism", "real": str(roots["real"]), "synthetic": str(roots["synthetic"]),
                    "label_map": None if label_map is None else str(getattr(label_map, "name", label_map)),
                    "synthetic_label_map": None if synthetic_label_map is None
                    else str(getattr(synthetic_label_map, "name", synthetic_label_map)),
                    "phase": None if phase is None else Phase.parse(phase).value, "seed": seed,
                    "folds": folds, "repeats": test.repeats, "n_resamples": n_resamples,
                    "n_permutations": n_permutations, "settings": settings.as_dict()},
    }
    write_text_atomic(json.dumps(summary, indent=2) + "\n", paths["realism.json"])
    if not quiet:
        print(f"realism: {auc_line(comparison)} -> {paths['report.md']}")
    return summary
