"""Heuristic generator speed and memory on a ~380 x 380 x 190 volume at 1 mm, one core.

Prints: start-up time (import + preset), preparation time, per-call sample + render time per
size class and for ``mixed`` with 15-25 lesions (median of repeats, preparation cached), and the
peak extra memory of a call (tracemalloc, which numpy reports to). The volume is the shared real
CT resampled to 1 mm and cropped around the liver, or, without ../shared, a 1 mm phantom.

    python benchmarks/bench_heuristic.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

T0 = time.perf_counter()
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

from synthtumor import Case, load_case  # noqa: E402
from synthtumor.generators import HeuristicGenerator  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg_example"
TARGET = (380, 380, 190)


def volume_1mm() -> tuple[Case, str]:
    """The shared CT at 1 mm, cropped/padded to TARGET around the liver."""
    if not (SHARED / "ct.nii.gz").is_file():
        from synthtumor.phantom import PhantomConfig, make_phantom

        config = PhantomConfig(spacing=(1.0, 1.0, 1.0), field_of_view=(380.0, 380.0, 190.0))
        return make_phantom(config, np.random.default_rng(0)).case, "phantom at 1 mm"
    case = load_case(SHARED / "ct.nii.gz", SHARED / "seg.nii.gz", "totalsegmentator", phase="native")
    zoom = np.array(case.spacing)  # to 1 mm
    image = ndi.zoom(case.image, zoom, order=1)
    organ = ndi.zoom(case.organ.astype(np.uint8), zoom, order=0).astype(bool)
    vessels = ndi.zoom(case.vessels.astype(np.uint8), zoom, order=0).astype(bool)
    centre = np.argwhere(organ).mean(axis=0).astype(int)
    out = [np.full(TARGET, -1000.0, np.float32), np.zeros(TARGET, bool), np.zeros(TARGET, bool)]
    src, dst = [], []
    for c, n, t in zip(centre, image.shape, TARGET):
        lo = c - t // 2
        s0, s1 = max(lo, 0), min(lo + t, n)
        src.append(slice(s0, s1))
        dst.append(slice(s0 - lo, s1 - lo))
    for o, a in zip(out, (image, organ, vessels)):
        o[tuple(dst)] = a[tuple(src)]
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    return Case(out[0], affine, "totalseg_1mm", organ=out[1], vessels=out[2], phase="native"), "shared real CT at 1 mm"


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    gen = HeuristicGenerator.from_preset("mixed")
    startup = time.perf_counter() - T0
    case, source = volume_1mm()
    print(f"volume: {source}, shape {case.shape}, organ {case.volume_ml(case.organ):.0f} mL")
    print(f"start-up (imports + preset): {startup:.2f} s")
    t = time.perf_counter()
    prepared = gen.prepare(case)
    print(f"prepare: {time.perf_counter() - t:.2f} s")

    rows = []
    for name, counts in [("tiny", {"tiny": [1, 1]}), ("small", {"small": [1, 1]}),
                         ("medium", {"medium": [1, 1]}), ("large", {"large": [1, 1]})]:
        g = HeuristicGenerator.from_preset("liver_metastasis", counts=counts, placement={"on_no_room": "shrink"})
        seeds = iter(range(10**6))
        ms, _ = timed(lambda: g.render(prepared, g.sample(prepared, np.random.default_rng(next(seeds)))), args.repeats)
        rows.append((f"1 {name} lesion", ms))
    mixed = HeuristicGenerator.from_preset("mixed", counts={"tiny": [8, 12], "small": [5, 8], "medium": [2, 4], "large": [0, 1]})
    seeds = iter(range(10**6))
    n_lesions = []

    def one_mixed():
        specs = mixed.sample(prepared, np.random.default_rng(next(seeds)))
        n_lesions.append(len(specs))
        return mixed.render(prepared, specs)

    ms, _ = timed(one_mixed, args.repeats)
    rows.append((f"mixed, {min(n_lesions)}-{max(n_lesions)} lesions", ms))
    for label, seconds in rows:
        print(f"sample + render, {label}: {1000 * seconds:.1f} ms")
    tracemalloc.start()
    one_mixed()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak extra memory of one mixed call: {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
