"""Benchmark the procedural phantom: seconds per case and peak memory.

Usage:
    python benchmarks/bench_phantom.py [--cases 3] [--config configs/phantom/default.yaml]
        [--spacing 0.8 0.8 5] [--lesions N] [--phase portal] [--write DIR] [--png PATH]

``--write`` also saves each case as NIfTI (image int16, liver/tumour label, anatomy) with
nibabel, to time what a CLI run costs; ``--png`` renders an axial, coronal and sagittal slice
of the first case (window -160..240 HU, radiological display: patient right on the left).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthtumor.phantom import LABELS, Phantom, PhantomConfig, make_phantom, phantom_seed  # noqa: E402


def write_nifti(phantom: Phantom, folder: Path) -> None:
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    case = phantom.case
    name = case.case_id
    nib.save(nib.Nifti1Image(case.image.astype(np.int16), case.affine), folder / f"{name}_0000.nii.gz")
    nib.save(nib.Nifti1Image(case.label, case.affine), folder / f"{name}.nii.gz")
    nib.save(nib.Nifti1Image(phantom.anatomy, case.affine), folder / f"{name}_anatomy.nii.gz")


def render_png(phantom: Phantom, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = phantom.case
    image, sx, sy, sz = case.image, *case.spacing
    idx = np.argwhere(case.organ)
    cx, cy, cz = (int(v) for v in idx.mean(axis=0))
    if case.tumor.any():  # centre the views on the largest lesion
        from scipy import ndimage as ndi

        labels, _ = ndi.label(case.tumor)
        largest = int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
        cx, cy, cz = (int(v) for v in np.argwhere(labels == largest).mean(axis=0))
    kidney = np.argwhere(phantom.anatomy == LABELS["kidney_right"])
    kz = int(kidney[:, 2].mean()) if len(kidney) else cz // 2
    win = {"cmap": "gray", "vmin": -160, "vmax": 240, "origin": "lower", "interpolation": "nearest"}
    panels = [
        (f"axial z={cz}", image[::-1, :, cz].T, sy / sx, case.organ[::-1, :, cz].T),
        (f"axial (kidneys) z={kz}", image[::-1, :, kz].T, sy / sx, case.organ[::-1, :, kz].T),
        (f"coronal y={cy}", image[::-1, cy, :].T, sz / sx, case.organ[::-1, cy, :].T),
        (f"sagittal x={cx} (anterior left)", image[cx, ::-1, :].T, sz / sy, case.organ[cx, ::-1, :].T),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(24, 6.5), facecolor="black")
    for ax, (title, plane, aspect, organ) in zip(axes, panels):
        ax.imshow(plane, aspect=aspect, **win)
        ax.contour(organ, [0.5], colors="lime", linewidths=0.4, alpha=0.5)
        ax.set_title(title, color="white")
        ax.axis("off")
    fig.suptitle(f"{case.case_id}  {case.phase.value}  {case.spacing} mm", color="white")
    fig.tight_layout()
    fig.savefig(path, dpi=80, facecolor="black")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--spacing", type=float, nargs=3, default=None)
    parser.add_argument("--lesions", type=int, default=None)
    parser.add_argument("--phase", default=None)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()

    config = PhantomConfig.from_yaml(args.config) if args.config else PhantomConfig()
    changes = config.to_dict()
    if args.spacing:
        changes["spacing"] = args.spacing
    if args.lesions is not None:
        changes["n_lesions"] = args.lesions
    if args.phase:
        changes["phase"] = args.phase
    config = PhantomConfig.from_dict(changes)

    total = time.perf_counter()
    times = []
    for i in range(args.cases):
        start = time.perf_counter()
        phantom = make_phantom(config, phantom_seed(args.seed, i), f"phantom_{i:03d}")
        built = time.perf_counter() - start
        if args.write:
            write_nifti(phantom, args.write)
        times.append(time.perf_counter() - start)
        case = phantom.case
        print(f"{case.case_id}: build {built:.2f} s, with writing {times[-1]:.2f} s; "
              f"shape {case.shape}, liver {case.volume_ml(case.organ):.0f} mL, "
              f"lesions {len(phantom.lesions)}")
        if i == 0 and args.png:
            render_png(phantom, args.png)
            print(f"preview: {args.png}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"seconds per case: mean {np.mean(times):.2f}, max {np.max(times):.2f}; "
          f"total {time.perf_counter() - total:.2f} s for {args.cases} cases")
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
