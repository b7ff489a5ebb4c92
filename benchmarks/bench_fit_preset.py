"""Fit-then-generate on phantoms: does a fitted preset make lesions the realism test cannot tell apart?

The phantom's reference lesions come from an independent growth model (synthtumor/phantom/lesions.py)
and stand in for annotated tumours. Three disjoint cohorts of 8 phantoms (seeds 101, 202, 303):

1. ``fit``: 8 phantoms with ``--lesions`` (4) reference lesions each: ``synthtumor fit-preset`` fits a preset;
2. ``healthy``: 8 phantoms without lesions: ``synthtumor generate`` draws lesions into them, once
   with the base preset (seed 0), and with the fitted one once per ``--seeds`` (0, 1, 2, 3: one
   draw of about 60 lesions moves the AUC by several hundredths, so the verdict takes the mean
   AUC and the median KS p-values over the seeds) (``--per-case 2``);
3. ``test``: 8 more phantoms with as many reference lesions each: ``synthtumor realism`` compares
   each synthetic set with them, and also the fit phantoms' own lesions (the ``fit set`` row: what
   a preset that reproduced the fit set exactly would score, given that two cohorts of 8
   phantoms differ by chance). Each fitted set is also compared with the fit phantoms' lesions
   (how closely the preset reproduces what it was fitted on).

Prints every command it runs, then the classifier AUC (95 % CI) of base and fitted lesions and
the per-feature KS p-values. Cohorts already in ``--work`` are reused; the fit is redone.

    python benchmarks/bench_fit_preset.py [--work /tmp/fit_bench] [--base liver_metastasis] \\
        [--lesions 4] [--seeds 0,1,2,3] [--picture docs/fit_preset_lesions.png]

``--picture PNG`` also writes, with :func:`synthtumor.preview.save_case_preview`, one row per
source (a reference lesion of a test phantom, a base-preset lesion, a fitted-preset lesion),
each through its largest lesion, stacked and colour-quantised to stay small.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from synthtumor.calibration_defaults import CALIBRATION_ROUNDS

FEATURES = ("volume_ml", "sphericity", "irregularity", "contrast_hu", "std_hu", "glcm_contrast",
            "glcm_homogeneity", "edge_width_mm")
TARGET_KS = ("volume_ml", "sphericity", "contrast_hu", "std_hu")


def _cli() -> str:
    found = Path(sys.executable).with_name("synthtumor")
    return str(found) if found.exists() else (shutil.which("synthtumor") or "synthtumor")


def run(args: list[str]) -> float:
    """Run one synthtumor command (printed first); return its wall time (s)."""
    print("$ synthtumor " + " ".join(args), flush=True)
    t = time.perf_counter()
    subprocess.run([_cli(), *args], check=True)
    return time.perf_counter() - t


def _largest_lesion_centre(case):
    import numpy as np

    from synthtumor.metrics import label_lesions

    labels, n = label_lesions(case.tumor)
    sizes = np.bincount(labels.ravel())[1:]
    ijk = np.argwhere(labels == int(sizes.argmax()) + 1).mean(axis=0)
    return (case.affine @ np.append(ijk, 1.0))[:3]


def picture(work: Path, out: Path) -> None:
    """Reference, base and fitted lesions side by side (see the module docstring)."""
    import tempfile

    import numpy as np
    from PIL import Image

    from synthtumor.io.layouts import load_dataset
    from synthtumor.preview import save_case_preview

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, folder in (("reference lesion (phantom growth model)", work / "test"),
                              ("base preset liver_metastasis", work / "synth_base_s0"),
                              ("fitted preset (fit-preset on 8 other phantoms)", work / "synth_fitted_s0")):
            case = next(iter(load_dataset(folder)))
            path = Path(tmp) / f"{len(rows)}.png"
            save_case_preview(case, path, centre_mm=_largest_lesion_centre(case), title=f"{label}: {case.case_id}")
            rows.append(Image.open(path).convert("RGB"))
        width = min(r.width for r in rows)
        stacked = Image.fromarray(np.concatenate([np.asarray(r)[:, :width] for r in rows], axis=0))
        stacked = stacked.resize((int(stacked.width * 0.8), int(stacked.height * 0.8)), Image.LANCZOS)
        out.parent.mkdir(parents=True, exist_ok=True)
        stacked.quantize(colors=96).save(out, optimize=True)
    print(f"picture: {out} ({out.stat().st_size // 1024} KB)")


def realism(real: Path, synthetic: Path, out: Path) -> dict:
    """``synthtumor realism`` of ``synthetic`` against ``real`` into ``out``; its realism.json."""
    shutil.rmtree(out, ignore_errors=True)
    run(["realism", "--real", str(real), "--synthetic", str(synthetic), "--out", str(out), "--quiet"])
    return json.loads((out / "realism.json").read_text())


def ks_pvalues(result: dict) -> dict:
    return {row["feature"]: row["ks_pvalue"] for row in result["features"]}


def table(results: dict) -> None:
    print("| lesions | real lesions | synthetic lesions | classifier AUC (95 % CI) | " +
          " | ".join(f"KS p {f}" for f in FEATURES) + " |")
    print("|---|---:|---:|---|" + "---:|" * len(FEATURES))
    for label, r in results.items():
        ks = ks_pvalues(r)
        print(f"| {label} | {r['real_lesions']} | {r['synthetic_lesions']} | {r['auc']:.3f} "
              f"({r['auc_ci_low']:.3f}-{r['auc_ci_high']:.3f}) | " + " | ".join(
                  f"{ks[f]:.3g}" if ks.get(f) is not None else "nan" for f in FEATURES) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fit_bench"))
    parser.add_argument("--base", default="liver_metastasis")
    parser.add_argument("--per-case", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=CALIBRATION_ROUNDS)
    parser.add_argument("--seeds", default="0,1,2,3", help="generation seeds of the fitted preset (comma-separated)")
    parser.add_argument("--lesions", type=int, default=4, help="reference lesions per fit and test phantom")
    parser.add_argument("--picture", type=Path, default=None, help="write reference / base / fitted previews here")
    args = parser.parse_args()
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    for name, seed, lesions in (("fit", 101, args.lesions), ("healthy", 202, 0), ("test", 303, args.lesions)):
        if (w / name / "dataset.json").is_file():
            held = json.loads((w / name / "dataset.json").read_text()).get("phantom_config", {}).get("n_lesions")
            if held is not None and held != lesions:
                raise SystemExit(f"{w / name} holds phantoms with {held} lesions, not {lesions}: use another --work.")
        else:
            run(["phantom", str(w / name), "--n", "8", "--seed", str(seed), "--lesions", str(lesions), "--quiet"])
    fitted = w / "fitted.yaml"
    times = {"fit-preset": run(["fit-preset", "--real", str(w / "fit"), "--base", args.base, "--out", str(fitted),
                                "--rounds", str(args.rounds), "--quiet", "--overwrite"])}
    seeds = [int(v) for v in args.seeds.split(",")]
    runs = [("base", args.base, seeds[0])] + [("fitted", str(fitted), seed) for seed in seeds]
    results, against_fit = {}, {}
    for label, preset, seed in runs:
        synth = w / f"synth_{label}_s{seed}"
        shutil.rmtree(synth, ignore_errors=True)
        times[f"generate {label} s{seed}"] = run(["generate", "--input", str(w / "healthy"), "--out", str(synth),
                                                  "--preset", preset, "--per-case", str(args.per_case), "--seed",
                                                  str(seed), "--quiet"])
        results[f"{label} s{seed}"] = realism(w / "test", synth, w / f"realism_{label}_s{seed}")
        if label == "fitted":
            against_fit[f"fitted s{seed} vs fit set"] = realism(w / "fit", synth, w / f"realism_fit_{label}_s{seed}")
    results["fit set"] = realism(w / "test", w / "fit", w / "realism_fit_set")
    print("\nagainst the test phantoms' reference lesions:")
    table(results)
    print("\nthe fitted lesions against the lesions they were fitted to (the fit phantoms'):")
    table(against_fit)
    fitted_runs = [r for k, r in results.items() if k.startswith("fitted")]
    mean_auc = sum(r["auc"] for r in fitted_runs) / len(fitted_runs)
    median_p = {f: statistics.median(ks_pvalues(r).get(f) or 0.0 for r in fitted_runs) for f in FEATURES}
    print(f"\nfitted, over {len(fitted_runs)} generation seed(s): mean AUC {mean_auc:.3f} (per seed "
          + ", ".join(f"{r['auc']:.3f}" for r in fitted_runs) + "); median KS p "
          + ", ".join(f"{f} {median_p[f]:.3g}" for f in FEATURES))
    print("\nmedians (real test lesions / base / fitted, first seed / fit set):")
    first = f"fitted s{seeds[0]}"
    for feature in FEATURES:
        rows = {k: next(row for row in r["features"] if row["feature"] == feature) for k, r in results.items()}
        print(f"  {feature}: {rows[f'base s{seeds[0]}']['median_real']:.4g} / "
              f"{rows[f'base s{seeds[0]}']['median_synthetic']:.4g} / {rows[first]['median_synthetic']:.4g} / "
              f"{rows['fit set']['median_synthetic']:.4g}")
    met = mean_auc <= 0.75 and all(median_p[f] > 0.05 for f in TARGET_KS)
    print(f"\ntarget (mean fitted AUC <= 0.75, median KS p > 0.05 for {', '.join(TARGET_KS)}): "
          f"{'met' if met else 'NOT met'}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    if args.picture is not None:
        picture(w, args.picture)  # the first seed's cases


if __name__ == "__main__":
    main()
