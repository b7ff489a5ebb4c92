"""Per-case metric time on one 512 x 512 x 100 case pair at 0.8 x 0.8 x 2.5 mm, one core.

The pair is synthetic: a liver-sized organ (an ellipsoid of radii 90 x 75 x 70 mm with a
low-frequency random boundary, ~2 L) holding four spherical lesions (equivalent radii 3-20 mm);
the prediction moves the organ boundary by about a millimetre, shifts the lesions by a voxel,
misses the smallest one and adds one false positive. Prints the time of the full per-case
computation (``evaluate_masks``: organ and tumour metrics, lesion matching; median of repeats)
and a breakdown by part. Target: at most 5 s.

A second figure times a deliberately rough prediction (the organ boundary eaten and grown by
smoothed noise in a 2-voxel band: dozens of islands, hundreds of tunnels), which shows what
clDice's 3-D thinning costs on ragged masks: its time grows with the number of border voxels.

    python benchmarks/bench_evaluate.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from synthtumor.metrics import (  # noqa: E402
    betti_numbers,
    cldice,
    confusion,
    evaluate_masks,
    match_lesions,
    surface_metrics,
)

torch.set_num_threads(1)

SHAPE = (512, 512, 100)
SPACING = (0.8, 0.8, 2.5)
LESIONS_MM = [((20.0, 10.0, 0.0), 20.0), ((-40.0, -20.0, 15.0), 9.0), ((45.0, 25.0, -20.0), 5.0),
              ((-15.0, 35.0, -30.0), 3.0)]


def make_pair(seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The synthetic (pred, ref) masks: ``organ`` (tumours included) and ``tumor``."""
    rng = np.random.default_rng(seed)
    sp = np.asarray(SPACING)
    x, y, z = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * d for n, d in zip(SHAPE, sp)], indexing="ij", sparse=True)
    coarse = ndi.gaussian_filter(rng.standard_normal((64, 64, 16)), 2.0)
    wobble = ndi.zoom(coarse / coarse.std(), np.divide(SHAPE, coarse.shape), order=1)
    radius = np.sqrt((x / 90.0) ** 2 + (y / 75.0) ** 2 + (z / 70.0) ** 2) + 0.03 * wobble
    ref_organ, pred_organ = radius <= 1.0, radius <= 1.012

    def spheres(items: list, shift_mm: float) -> np.ndarray:
        out = np.zeros(SHAPE, dtype=bool)
        for (cx, cy, cz), r in items:
            out |= (x - cx - shift_mm) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r
        return out

    ref_tumor = spheres(LESIONS_MM, 0.0) & ref_organ
    pred_tumor = (spheres(LESIONS_MM[:-1] + [((0.0, -45.0, 10.0), 6.0)], 0.8)) & pred_organ
    ref = {"organ": ref_organ | ref_tumor, "tumor": ref_tumor}
    pred = {"organ": pred_organ | pred_tumor, "tumor": pred_tumor}
    return pred, ref


def roughen(organ: np.ndarray, seed: int = 1) -> np.ndarray:
    """``organ`` with its boundary band eaten and grown by smoothed noise (islands and holes)."""
    noise = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32), 1.5)
    band = ndi.binary_dilation(organ, iterations=2) & ~ndi.binary_erosion(organ, iterations=2)
    return (organ & ~(band & (noise > 0.1))) | (band & (noise > 0.15))


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pred, ref = make_pair()
    voxel_ml = float(np.prod(SPACING)) / 1000.0
    print(f"grid {SHAPE} at {SPACING} mm; organ {ref['organ'].sum() * voxel_ml:.0f} mL, "
          f"tumour {ref['tumor'].sum() * voxel_ml:.1f} mL; one core (torch threads {torch.get_num_threads()})")
    total = _time(lambda: evaluate_masks(pred, ref, SPACING, case_id="bench"), args.repeats)
    parts = {
        "confusion counts (both classes)": lambda: [confusion(pred[c], ref[c]) for c in ("organ", "tumor")],
        "HD95 / ASSD / NSD (organ)": lambda: surface_metrics(pred["organ"], ref["organ"], SPACING),
        "clDice (organ)": lambda: cldice(pred["organ"], ref["organ"]),
        "Betti numbers (organ, both sides)": lambda: (betti_numbers(pred["organ"]), betti_numbers(ref["organ"])),
        "lesion matching": lambda: match_lesions(pred["tumor"], ref["tumor"], SPACING),
    }
    print(f"full per-case metrics (evaluate_masks): {total:.2f} s (median of {args.repeats}; target <= 5 s)")
    for name, fn in parts.items():
        print(f"  {name}: {_time(fn, 1):.2f} s")
    row = evaluate_masks(pred, ref, SPACING, case_id="bench").metrics
    print("  dice organ {dice_organ:.4f}, hd95 organ {hd95_organ:.2f} mm, dice tumour {dice_tumor:.4f}, "
          "lesions TP {lesion_tp} FP {lesion_fp} FN {lesion_fn}".format(**row))
    rough = {"organ": roughen(ref["organ"]) | pred["tumor"], "tumor": pred["tumor"]}
    t0 = time.perf_counter()
    row = evaluate_masks(rough, ref, SPACING, case_id="rough").metrics
    rough_total = time.perf_counter() - t0
    rough_cldice = _time(lambda: cldice(rough["organ"], ref["organ"]), 1)
    print(f"rough prediction (organ b0 {row['b0_organ']}, b1 {row['b1_organ']}): {rough_total:.2f} s, "
          f"of which clDice (organ) {rough_cldice:.2f} s")


if __name__ == "__main__":
    main()
