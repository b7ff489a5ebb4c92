"""A study's report: tables per arm with 95 % CIs, the paired difference of every arm to the
``real`` arm (:mod:`synthtumor.train_seg.paired`), a learning curve with a difference panel,
sensitivity bars, overlays.

Each test case's metric is first averaged over the seeds; CIs are percentile bootstraps (2000
resamples, seed 0) of the mean over test cases, so they reflect the test set's size. NaNs (a
metric undefined for a case) are left out. The overlays need the study's test reference
(``out/data/test_reference``); without it they are skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from synthtumor.io.case_io import write_text_atomic  # noqa: E402
from synthtumor.metrics.summary import bootstrap_ci  # noqa: E402
from synthtumor.train_seg.fitted_arm import fit_notes  # noqa: E402
from synthtumor.train_seg.paired import format_paired_table, paired_differences  # noqa: E402

__all__ = ["write_report", "TABLE_METRICS", "paired_differences", "format_paired_table"]

TABLE_METRICS = ("dice_tumor", "nsd_tumor", "dice_organ")


def _values(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    """One value per test case: the mean over seeds (the same test cases recur in every seed,
    so bootstrapping (seed, case) pairs as independent would make the CI too narrow)."""
    per_case: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        try:
            value = float(row.get(key))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            per_case[str(row["case_id"])].append(value)
    return np.asarray([np.mean(v) for _, v in sorted(per_case.items())])


def _mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    if values.size == 0:
        return math.nan, math.nan, math.nan
    low, high = bootstrap_ci(values, np.random.default_rng(0))
    return float(values.mean()), low, high


def _fmt(mean: float, low: float, high: float) -> str:
    return "n/a" if math.isnan(mean) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _groups(rows: list[dict[str, Any]]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    groups: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[str(row["arm"])][int(row["n_real"])].append(row)
    return groups


def _sensitivity(lesions: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, tuple[int, int]]]:
    """(arm, n_real) -> size bin -> (detected, total) over reference lesions."""
    out: dict[tuple[str, int], dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in lesions:
        if row.get("side") != "ref":
            continue
        cell = out[(str(row["arm"]), int(row["n_real"]))][str(row["size_bin"])]
        cell[0] += int(row["matched"] in ("1", 1, "True", True))
        cell[1] += 1
    return {k: {b: (v[0], v[1]) for b, v in bins.items()} for k, bins in out.items()}


def _learning_curve(groups, paired: list[dict[str, Any]], path: Path) -> None:
    """Left: tumour Dice per arm against real scans; right: each arm minus real at that n."""
    fig, (ax, dax) = plt.subplots(1, 2, figsize=(12, 4.2))
    ticks = sorted({n for by_n in groups.values() for n in by_n if n > 0})
    colours = {arm: f"C{i}" for i, arm in enumerate(sorted(groups))}
    log = len(ticks) > 2 and ticks[-1] / ticks[0] > 8  # doubling scarcity levels
    for arm, by_n in sorted(groups.items()):
        ns = sorted(by_n)
        stats = [_mean_ci(_values(by_n[n], "dice_tumor")) for n in ns]
        means = np.array([s[0] for s in stats])
        lows = np.array([s[1] for s in stats])
        highs = np.array([s[2] for s in stats])
        colour = colours[arm]
        if len(ns) == 1:
            ax.axhline(means[0], linestyle="--", color=colour, label=f"{arm} (no real scans)" if ns[0] == 0 else arm)
            ax.axhspan(lows[0], highs[0], color=colour, alpha=0.12)
            continue
        ax.plot(ns, means, marker="o", color=colour, label=arm)
        ax.fill_between(ns, lows, highs, color=colour, alpha=0.18)
    compared = sorted({row["arm"] for row in paired})
    for i, arm in enumerate(compared):
        rows = sorted((r for r in paired if r["arm"] == arm and not math.isnan(r["dice_tumor_mean"])),
                      key=lambda r: r["n_real"])
        if not rows:
            continue
        shift = 0.04 * (i - (len(compared) - 1) / 2)  # arms side by side
        ns = np.array([r["n_real"] for r in rows], dtype=float)
        ns = ns * (1.0 + shift) if log else ns + shift * max(ticks[-1] - ticks[0], 1)
        means = np.array([r["dice_tumor_mean"] for r in rows])
        lows = np.array([r["dice_tumor_ci_low"] for r in rows])
        highs = np.array([r["dice_tumor_ci_high"] for r in rows])
        err = np.array([means - lows, highs - means])
        dax.errorbar(ns, means, yerr=err, marker="o", capsize=3, color=colours.get(arm), label=arm)
    dax.axhline(0.0, color="black", linewidth=0.8)
    for axis in (ax, dax):
        if ticks:
            if log:
                axis.set_xscale("log")
            axis.set_xticks(ticks, [str(t) for t in ticks])
            axis.minorticks_off()
        axis.grid(alpha=0.3)
    ax.set_xlabel("real annotated training scans")
    ax.set_ylabel("tumour Dice (mean, 95 % CI)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    dax.set_xlabel("real scans of the real arm compared against")
    dax.set_ylabel("Δ tumour Dice vs real (paired, 95 % CI)")
    if compared:
        dax.legend(fontsize=8)
    else:
        dax.text(0.5, 0.5, "no real arm to compare against", ha="center", va="center", transform=dax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sensitivity_bars(sens, path: Path) -> None:
    keys = sorted(sens)
    bins = sorted({b for k in keys for b in sens[k]})
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(keys), 1)
    for i, key in enumerate(keys):
        values = [sens[key].get(b, (0, 0)) for b in bins]
        heights = [d / t if t else 0.0 for d, t in values]
        ax.bar(np.arange(len(bins)) + i * width, heights, width, label=f"{key[0]} n={key[1]}")
    ax.set_xticks(np.arange(len(bins)) + 0.4 - width / 2, bins)
    ax.set_xlabel("reference lesion equivalent radius (mm)")
    ax.set_ylabel("detection sensitivity")
    ax.set_ylim(0, 1)
    if keys:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _overlays(out: Path, groups, path: Path) -> bool:
    """Axial slices through the reference tumour: reference (red) and prediction (yellow).

    False (no picture) when the study's test reference is absent, e.g. for a report re-made from
    ``results.csv`` alone."""
    from synthtumor.io.layouts import load_dataset
    from synthtumor.io.nifti import read_nifti, to_ras

    root = out / "data" / "test_reference"
    if not (root / "dataset.json").is_file():
        return False
    reference = load_dataset(root)
    if len(reference) == 0:
        return False
    case = reference[0]
    arms = sorted(groups)
    fig, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 4.2), facecolor="black", squeeze=False)
    tumour = case.tumor if case.tumor is not None and case.tumor.any() else case.organ
    z = int(np.argwhere(tumour)[:, 2].mean())
    for ax, arm in zip(axes[0], arms):
        n = max(groups[arm])
        seed = sorted({int(r["seed"]) for r in groups[arm][n]})[0]
        pred_path = out / "runs" / arm / f"n{n}" / f"seed{seed}" / "predictions" / f"{case.case_id}.nii.gz"
        ax.imshow(case.image[::-1, ::-1, z].T, cmap="gray", vmin=-160, vmax=240)
        if pred_path.is_file():
            data, source = read_nifti(pred_path, integer=True)
            pred = to_ras(data, source.affine)[0]
            ax.contour((pred[::-1, ::-1, z] == 2).T.astype(float), levels=[0.5], colors=["#ffd60a"], linewidths=1)
        if case.tumor is not None:
            ax.contour(case.tumor[::-1, ::-1, z].T.astype(float), levels=[0.5], colors=["#ff3b30"], linewidths=1)
        ax.set_title(f"{arm}, n={n}, seed {seed}", color="white", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{case.case_id}: reference tumour (red), predicted tumour (yellow)", color="white", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, facecolor="black")
    plt.close(fig)
    return True


def write_report(out: Path, config, results: list[dict[str, Any]], lesions: list[dict[str, Any]]) -> Path:
    """Write ``report.md`` and its pictures into ``out``; print nothing; return the report path."""
    groups = _groups(results)
    sens = _sensitivity(lesions)
    lines = [f"# Study {config.name}", "",
             f"Arms: {', '.join(a.name for a in config.arms)}; real training scans {list(config.scarcity)}; "
             f"seeds {list(config.seeds)}; {config.n_test} held-out test scans (see splits.json).", "",
             "Per test case the mean over seeds; then the mean over test cases with a 95 % bootstrap CI "
             "over test cases. FP: false-positive tumours per case.", ""]
    bins = sorted({b for k in sens for b in sens[k]})
    header = ["arm", "n_real", "runs x cases", *TABLE_METRICS, "FP/case", *[f"sens {b}" for b in bins]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for arm in sorted(groups):
        for n in sorted(groups[arm]):
            rows = groups[arm][n]
            cells = [arm, str(n), str(len(rows))]
            cells += [_fmt(*_mean_ci(_values(rows, m))) for m in TABLE_METRICS]
            fp = _values(rows, "lesion_fp")
            cells.append(f"{fp.mean():.2f}" if fp.size else "n/a")
            for b in bins:
                detected, total = sens.get((arm, n), {}).get(b, (0, 0))
                cells.append(f"{detected}/{total}" if total else "-")
            lines.append("| " + " | ".join(cells) + " |")
    paired = paired_differences(results, config.scarcity)
    lines += ["", "## Paired difference to the real arm", "",
              "Per test case: the arm minus the `real` arm trained on n_real real scans, on the same test cases "
              "(synthetic arms, which use no real scans, against every n_real), averaged over the seeds both have; "
              "then the mean over test cases with a 95 % bootstrap CI and a two-sided Wilcoxon signed-rank p "
              "(from 5 paired cases). The reading follows the Δ tumour Dice CI.", ""]
    lines.append(format_paired_table(paired) if paired else "No comparison: the study has no `real` arm, or no "
                 "other arm at a scarcity level the real arm has.")
    notes = fit_notes(out)
    if notes:
        lines += ["", "## Fitted presets", "",
                  "Each fitted run's preset, fitted on the annotated lesions of its own real training scans "
                  "(never a test scan):", "", *notes]
    _learning_curve(groups, paired, out / "learning_curve.png")
    _sensitivity_bars(sens, out / "sensitivity_by_size.png")
    lines += ["", "![learning curve](learning_curve.png)", "", "![sensitivity by size](sensitivity_by_size.png)"]
    if results and _overlays(out, groups, out / "overlays.png"):
        lines += ["", "![predictions](overlays.png)"]
    text = "\n".join(lines) + "\n"
    write_text_atomic(text, out / "report.md")
    return out / "report.md"
