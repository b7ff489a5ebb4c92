"""Fit-then-generate on phantoms: does a fitted preset make lesions the realism test cannot tell apart?

The phantom's reference lesions come from an independent growth model (synthtumor/phantom/lesions.py)
and stand in for annotated tumours. Three disjoint cohorts of 8 phantoms (seeds 101, 202, 303):

1. ``fit``: 8 phantoms with ``--lesions`` (4) reference lesions each: ``synthtumor fit-preset`` fits a preset;
2. ``healthy``: 8 phantoms without lesions: ``synthtumor generate`` draws lesions into them, once
   with the base preset, once with the fitted one (``--per-case 2``);
3. ``test``: 8 more phantoms with as many reference lesions each: ``synthtumor realism`` compares
   each synthetic set with them, and also the fit phantoms' own lesions (the ``fit set`` row: what
   a preset that reproduced the fit set exactly would score, given that two cohorts of 8
   phantoms differ by chance).

Prints every command it runs, then the classifier AUC (95 % CI) of base and fitted lesions and
the per-feature KS p-values. Cohorts already in ``--work`` are reused.

    python benchmarks/bench_fit_preset.py [--work /tmp/fit_bench] [--base liver_metastasis] \\
        [--picture docs/fit_preset.png]

``--picture PNG`` also writes, with :func:`synthtumor.preview.save_case_preview`, one row per
source (a reference lesion of a test phantom, a base-preset lesion, a fitted-preset lesion),
each through its largest lesion, stacked and colour-quantised to stay small.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
                              ("base preset liver_metastasis", work / "synth_base"),
                              ("fitted preset (fit-preset on 8 other phantoms)", work / "synth_fitted")):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fit_bench"))
    parser.add_argument("--base", default="liver_metastasis")
    parser.add_argument("--per-case", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
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
                                "--rounds", str(args.rounds), "--quiet"])}
    results = {}
    for label, preset in (("base", args.base), ("fitted", str(fitted))):
        synth, report = w / f"synth_{label}", w / f"realism_{label}"
        for folder in (synth, report):
            shutil.rmtree(folder, ignore_errors=True)
        times[f"generate {label}"] = run(["generate", "--input", str(w / "healthy"), "--out", str(synth), "--preset",
                                          preset, "--per-case", str(args.per_case), "--seed", "0", "--quiet"])
        run(["realism", "--real", str(w / "test"), "--synthetic", str(synth), "--out", str(report), "--quiet"])
        results[label] = json.loads((report / "realism.json").read_text())
    shutil.rmtree(w / "realism_fit_set", ignore_errors=True)
    run(["realism", "--real", str(w / "test"), "--synthetic", str(w / "fit"), "--out", str(w / "realism_fit_set"),
         "--quiet"])
    results["fit set"] = json.loads((w / "realism_fit_set" / "realism.json").read_text())
    print()
    print("| preset | real lesions | synthetic lesions | classifier AUC (95 % CI) | " +
          " | ".join(f"KS p {f}" for f in FEATURES) + " |")
    print("|---|---:|---:|---|" + "---:|" * len(FEATURES))
    for label, r in results.items():
        ks = {row["feature"]: row["ks_pvalue"] for row in r["features"]}
        print(f"| {label} | {r['real_lesions']} | {r['synthetic_lesions']} | {r['auc']:.3f} "
              f"({r['auc_ci_low']:.3f}-{r['auc_ci_high']:.3f}) | " + " | ".join(
                  f"{ks[f]:.3g}" if ks.get(f) is not None else "nan" for f in FEATURES) + " |")
    print()
    print("medians (real test lesions / base / fitted / fit set):")
    for feature in FEATURES:
        rows = {label: next(row for row in r["features"] if row["feature"] == feature) for label, r in results.items()}
        print(f"  {feature}: {rows['base']['median_real']:.4g} / {rows['base']['median_synthetic']:.4g} / "
              f"{rows['fitted']['median_synthetic']:.4g} / {rows['fit set']['median_synthetic']:.4g}")
    fit = results["fitted"]
    ks_p = {row["feature"]: row["ks_pvalue"] or 0 for row in fit["features"]}
    met = fit["auc"] <= 0.75 and all(ks_p[f] > 0.05 for f in TARGET_KS)
    print(f"\ntarget (fitted AUC <= 0.75, KS p > 0.05 for {', '.join(TARGET_KS)}): {'met' if met else 'NOT met'}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    if args.picture is not None:
        picture(w, args.picture)


if __name__ == "__main__":
    main()
