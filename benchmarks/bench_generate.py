"""Offline generation throughput: cases per minute on the local pool (1 and 2 workers) and on Ray
(a local instance with 2 CPUs), the scaling efficiency, and the driver's peak memory.

Inputs are phantoms from ``synthtumor phantom`` (portal phase, the default 1.5 x 1.5 x 3 mm
grid); each run writes ``--per-case`` outputs per input with the ``liver_metastasis`` preset,
in a fresh child process (so peak RSS is that run's own). Ray's start-up (``ray.init`` of a
local instance) is timed apart from the generation, which then reuses the instance. A second
part generates from ``--rss-cases`` inputs (the phantoms again under new case ids, in a CSV list) and prints
the driver's peak RSS (MiB), which must not grow with the number of cases. On a shared machine
the wall times depend on the other jobs; the local runs' CPU seconds per case (this process and
its workers, start-up imports included) do not, and give the cases per minute a free core makes. Every run's files
are compared: all runs must write the same bytes.

    python benchmarks/bench_generate.py [--cases 8] [--per-case 1] [--rss-cases 50] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from synthtumor.commands.generate import GenerateJob, run_generate
from synthtumor.commands.generate_backends import Execution
inp, out, backend, workers, per_case = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
start_s = 0.0
if backend == "ray":
    import ray
    t = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    start_s = time.perf_counter() - t
t = time.perf_counter()
run_generate(GenerateJob(input_path=inp, out=out, per_case=per_case, seed=0, quiet=True, phase="portal",
                         execution=Execution(backend, workers)))
wall = time.perf_counter() - t
usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
print(json.dumps({"start_s": start_s, "wall_s": wall, "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
                  "driver_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _run(inp: Path, out: Path, backend: str, workers: int, per_case: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-c", CHILD, str(inp), str(out), backend, str(workers), str(per_case)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _digest(out: Path) -> str:
    """One digest of every generated file (dataset.json names the folder, so it is left out)."""
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "dataset.json":
            h.update(str(p.relative_to(out)).encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8, help="phantom inputs for the throughput runs")
    parser.add_argument("--per-case", type=int, default=1, help="outputs per input")
    parser.add_argument("--rss-cases", type=int, default=50, help="inputs for the memory runs (0: skip)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_generate_"))
    phantoms = work / "phantoms"
    if not (phantoms / "dataset.json").is_file():
        subprocess.run([sys.executable, "-m", "synthtumor.cli", "phantom", str(phantoms), "--n", str(args.cases),
                        "--seed", "0", "--workers", "2", "--quiet"], cwd=ROOT, check=True)
    n_out = args.cases * args.per_case
    print(f"{args.cases} phantom inputs x {args.per_case} = {n_out} outputs (liver_metastasis)")
    print("| run | start-up s | generation s | cases/min | CPU s/case | driver peak RSS MiB | digest |")
    print("|---|---|---|---|---|---|---|")
    rates, digests = {}, set()
    for name, backend, workers in [("local, 1 worker", "local", 1), ("local, 2 workers", "local", 2),
                                   ("ray, 2 CPUs", "ray", 2)]:
        r = _run(phantoms, work / "out", backend, workers, args.per_case)
        rates[name] = 60.0 * n_out / r["wall_s"]
        digests.add(digest := _digest(work / "out"))
        cpu = f"{r['cpu_s'] / n_out:.2f}" if backend == "local" else "-"  # Ray's actors are not our children
        print(f"| {name} | {r['start_s']:.1f} | {r['wall_s']:.1f} | {rates[name]:.1f} | {cpu} | {r['driver_mib']:.0f} "
              f"| {digest} |")
    base = rates["local, 1 worker"]
    for name in ("local, 2 workers", "ray, 2 CPUs"):
        print(f"scaling efficiency, {name}: {rates[name] / (2 * base):.0%} of 2x one worker")
    print("same bytes in every run:", "yes" if len(digests) == 1 else f"NO ({sorted(digests)})")
    if args.rss_cases:
        many = work / f"inputs_{args.rss_cases}.csv"  # the phantoms again, under new case ids
        rows = [f"case_{i:03d},{phantoms.resolve()}/phantom_{i % args.cases:03d}/image.nii.gz,"
                f"{phantoms.resolve()}/phantom_{i % args.cases:03d}/label.nii.gz,"
                f"{phantoms.resolve()}/phantom_{i % args.cases:03d}/vessels.nii.gz" for i in range(args.rss_cases)]
        many.write_text("case_id,image,label,vessels\n" + "\n".join(rows) + "\n")
        print(f"\n{args.rss_cases} inputs x 1 output: driver peak RSS")
        for name, backend, workers in [("local, 2 workers", "local", 2), ("ray, 2 CPUs", "ray", 2)]:
            r = _run(many, work / "out_many", backend, workers, 1)
            print(f"{name}: driver {r['driver_mib']:.0f} MiB (workers' peak {r['children_mib']:.0f} MiB where they "
                  f"are the driver's children), {60.0 * args.rss_cases / r['wall_s']:.1f} cases/min")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
