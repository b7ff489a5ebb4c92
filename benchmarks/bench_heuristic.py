"""Heuristic generator speed and memory on a ~380 x 380 x 190 volume at 1 mm, one core.

Prints: start-up time (generator imports + preset, then with the file reader), preparation time,
per-call sample + render time per size class and for ``mixed`` with 15-25 lesions (median of
repeats, preparation cached), and the peak extra memory of a call (tracemalloc, which numpy
reports to). The volume is the shared real CT resampled to 1 mm and cropped around the liver,
or, without ../shared, a 1 mm phantom.

    python benchmarks/bench_heuristic.py [--repeats 20] [--shapes]

``--shapes`` turns the richer shapes of issue 14 on in every preset timed: multi-nodular lesions
(half of them, 1-3 sub-nodules), an infiltrative margin of 0.5-1.5 mm and elongation ratios.
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

from synthtumor import Case  # noqa: E402
from synthtumor.generators import HeuristicGenerator  # noqa: E402

HeuristicGenerator.from_preset("mixed")  # what a generator needs before its first call
STARTUP = time.perf_counter() - T0
from scipy import ndimage as ndi  # noqa: E402

from synthtumor import load_case  # noqa: E402  (the NIfTI reader: nibabel and pydicom)

WITH_READER = time.perf_counter() - T0

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


def timed(fn, repeats: int, setup=None) -> tuple[float, object]:
    """Median seconds of ``fn(setup())`` over repeats (setup not timed)."""
    times, result = [], None
    for _ in range(repeats):
        arg = setup() if setup is not None else None
        t = time.perf_counter()
        result = fn(arg) if setup is not None else fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), result


def private_copy(prepared):
    """A preparation whose case arrays the caller owns (what the on-the-fly transforms have)."""
    case = prepared.case
    tumor = np.empty(case.shape, bool)
    tumor.fill(False)  # materialised, as the transforms' (label >= 1.5) is; np.zeros pages in lazily
    own = Case.trusted(image=case.image.copy(), affine=case.affine, case_id=case.case_id,
                       organ=case.organ.copy(), vessels=case.vessels, tumor=tumor, phase=case.phase)
    return prepared.attach(own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--shapes", action="store_true", help="richer shapes on (sub-nodules, margin, elongation)")
    args = parser.parse_args()
    shapes = dict(nodules={"prob": 0.5, "count": [1, 3], "offset": [0.7, 1.2], "scale": [0.4, 0.7], "min_radius_mm": 3},
                  margin_mm=[0.5, 1.5], elongation={"long": [1.0, 1.6], "flat": [1.0, 1.3]}) if args.shapes else {}
    gen = HeuristicGenerator.from_preset("mixed")
    case, source = volume_1mm()
    print(f"volume: {source}, shape {case.shape}, organ {case.volume_ml(case.organ):.0f} mL")
    print(f"start-up (generator imports + preset): {STARTUP:.2f} s; "
          f"with the NIfTI reader imported too: {WITH_READER:.2f} s")
    t = time.perf_counter()
    prepared = gen.prepare(case)
    print(f"prepare: {time.perf_counter() - t:.2f} s")

    generators = [(f"1 {name} lesion", HeuristicGenerator.from_preset(
        "liver_metastasis", counts={name: [1, 1]}, placement={"on_no_room": "shrink"}, **shapes))
        for name in ("tiny", "small", "medium", "large")]
    counts = {"tiny": [8, 12], "small": [5, 8], "medium": [2, 4], "large": [0, 1]}
    mixed = HeuristicGenerator.from_preset("mixed", counts=counts, **shapes)
    n_lesions = []
    generators.append(("mixed, 15-25 lesions", mixed))
    print("per call, preparation cached; 'in place' draws into arrays the caller owns (the on-the-fly")
    print("transforms' path); 'copy' returns a new case and leaves the input untouched (offline path)")
    for label, gen in generators:
        seeds = iter(range(10**6))

        sample_times: list[float] = []

        def call(prep, gen=gen, seeds=seeds, inplace=True, sample_times=sample_times):
            t = time.perf_counter()
            specs = gen.sample(prep, np.random.default_rng(next(seeds)))
            sample_times.append(time.perf_counter() - t)
            n_lesions.append(len(specs)) if gen is mixed else None
            return gen.render_result(prep, specs, inplace=inplace)

        in_place, _ = timed(call, args.repeats, setup=lambda: private_copy(prepared))
        sampling = float(np.median(sample_times))
        copied, _ = timed(lambda p: call(prepared, inplace=False), args.repeats, setup=lambda: None)
        extra = f" ({min(n_lesions)}-{max(n_lesions)} drawn)" if gen is mixed else ""
        print(f"sample + render, {label}{extra}: in place {1000 * in_place:.1f} ms "
              f"(sampling {1000 * sampling:.1f} ms of it), copy {1000 * copied:.1f} ms")
    for inplace in (True, False):
        prep = private_copy(prepared) if inplace else prepared
        tracemalloc.start()
        mixed.render_result(prep, mixed.sample(prep, np.random.default_rng(0)), inplace=inplace)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak extra memory of one mixed call ({'in place' if inplace else 'copy'}): {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
