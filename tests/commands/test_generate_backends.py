"""generate on the local pool and on Ray (issue 16): the same bytes; a worker killed mid-task is
retried; a job killed with SIGKILL at a random point and run again ends with every case once and
every checksum right; a corrupt input is recorded as failed while the rest are written; a
finished output whose file was damaged is redone; the output guard holds on Ray too."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synthtumor.cli import main
from synthtumor.commands.generate import GenerateJob, run_generate
from synthtumor.commands.generate_backends import CRASH_ONCE_ENV, Execution

from tests.conftest import blob_dataset

ROOT = Path(__file__).resolve().parents[2]
PER_CASE = 2
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[dist]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return blob_dataset(tmp_path_factory.mktemp("backends") / "data", n=3)


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones included) -> its SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _generate(data: Path, out: Path, backend: str = "local", workers: int = 2, **kwargs) -> Path:
    return run_generate(GenerateJob(input_path=data, out=out, per_case=PER_CASE, seed=5, quiet=True,
                                    execution=Execution(backend, workers, **kwargs)))


@pytest.fixture(scope="module")
def local(dataset, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("local") / "out"  # every run writes to a folder named out
    _generate(dataset, out)
    return _tree(out)


def _assert_job_complete(out: Path, expected: list[str]) -> None:
    """The manifest lists each expected case once, and every file of every record has its checksum."""
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["case_id"] for r in records] == expected
    for record in records:
        assert record["files"], record["case_id"]
        for name, digest in record["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name


def _expected(n: int = 3) -> list[str]:
    return [f"blob{i}_syn{k:02d}" for i in range(n) for k in range(PER_CASE)]


def test_ray_writes_the_same_bytes_as_the_local_pool(ray_instance, dataset, local, tmp_path):
    out = tmp_path / "out"
    _generate(dataset, out, "ray")
    assert _tree(out) == local
    _assert_job_complete(out, _expected())


def test_a_worker_killed_mid_task_is_retried_and_the_job_completes(ray_instance, dataset, local, tmp_path,
                                                                   monkeypatch):
    marker = tmp_path / "died"
    monkeypatch.setenv(CRASH_ONCE_ENV, f"blob1_syn01:{marker}")
    out = tmp_path / "out"
    _generate(dataset, out, "ray", retries=1)
    assert marker.exists(), "the test hook did not kill the worker"
    assert _tree(out) == local


def _live_actors(ray) -> int:
    """Actors alive in the test's Ray instance (ray.util.state needs the dashboard, which the
    fixture leaves out; the GCS's own table does not)."""
    from ray._private import state

    return sum(1 for actor in state.actors().values() if actor["State"] != "DEAD")


def test_a_job_killed_at_a_random_point_then_rerun_has_every_case_once(ray_instance, dataset, local, tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    rng = np.random.default_rng(seed)
    after = int(rng.integers(0, len(_expected())))  # kill once this many cases are recorded...
    jitter = float(rng.uniform(0.0, 0.5))  # ...and this many seconds later
    out = tmp_path / "out"
    address = ray_instance.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "synthtumor.cli", "generate", "--input", str(dataset), "--out", str(out),
               "--per-case", str(PER_CASE), "--seed", "5", "--backend", "ray", "--ray-address", address,
               "--workers", "2", "--quiet"]
    proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT_S
    records = out / ".records"
    while proc.poll() is None and time.monotonic() < deadline:
        if (records / "run.json").is_file() and len(list(records.glob("*_syn*.json"))) >= after:
            time.sleep(jitter)
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=TIMEOUT_S)
    where = f"killed after {after} cases + {jitter:.2f} s (seed {seed}, exit {proc.returncode})"
    end = time.monotonic() + 60  # Ray ends a dead driver's actors; none may go on writing
    while _live_actors(ray_instance) and time.monotonic() < end:
        time.sleep(0.2)
    assert _live_actors(ray_instance) == 0, f"actors outlived the killed job: {where}"
    _generate(dataset, out, "ray")
    _assert_job_complete(out, _expected())
    assert _tree(out) == local, where


@pytest.mark.parametrize("backend", ["ray", "local"])
def test_a_corrupt_input_is_recorded_as_failed_and_the_rest_are_written(ray_instance, dataset, local, tmp_path,
                                                                       capsys, backend):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    (data / "blob1" / "image.nii.gz").write_bytes(b"\x1f\x8b not a scan")
    out = tmp_path / "out"
    argv = ["generate", "--input", str(data), "--out", str(out), "--per-case", str(PER_CASE), "--seed", "5",
            "--backend", backend, "--workers", "2", "--retries", "1", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "2 of 6 output case(s) failed" in err and "blob1" in err and "failed.jsonl" in err
    failed = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert [(f["case_id"], f["attempts"]) for f in failed] == [("blob1_syn00", 2), ("blob1_syn01", 2)]
    kept = [c for c in _expected() if not c.startswith("blob1")]
    _assert_job_complete(out, kept)
    tree = _tree(out)
    for name, digest in local.items():
        if name.startswith(("blob0_", "blob2_")):
            assert tree[name] == digest, name
    # once the input is repaired, the same command finishes the job and forgets the failures
    shutil.copy(dataset / "blob1" / "image.nii.gz", data / "blob1" / "image.nii.gz")
    assert main(argv) == 0
    assert not (out / "failed.jsonl").exists() and not list((out / ".records" / "failed").glob("*"))
    _assert_job_complete(out, _expected())


def test_a_rerun_redoes_a_damaged_or_missing_output_and_records_each_case_once(dataset, local, tmp_path):
    out = tmp_path / "out"
    _generate(dataset, out)
    damaged = out / "blob0_syn01" / "label.nii.gz"
    damaged.write_bytes(damaged.read_bytes()[:-7] + b"garbage")
    (out / "blob2_syn00" / "image.nii.gz").unlink()
    (out / ".records" / "blob1_syn00.json").write_text("{")  # a record cut off by a crash
    stamp = (out / "blob1_syn01" / "image.nii.gz").stat().st_mtime_ns
    assert main(["generate", "--input", str(dataset), "--out", str(out), "--per-case", str(PER_CASE), "--seed", "5",
                 "--resume", "--quiet"]) == 0
    assert _tree(out) == local
    _assert_job_complete(out, _expected())
    assert (out / "blob1_syn01" / "image.nii.gz").stat().st_mtime_ns == stamp  # a verified case is not rewritten


def test_resume_needs_a_run_to_resume(dataset, tmp_path, capsys):
    assert main(["generate", "--input", str(dataset), "--out", str(tmp_path / "new"), "--resume", "--quiet"]) == 2
    assert "holds no generate run to resume" in capsys.readouterr().err


def test_the_output_guard_holds_on_ray(dataset, tmp_path, capsys):
    inside = ["generate", "--input", str(dataset), "--out", str(dataset / "synth"), "--backend", "ray", "--quiet"]
    assert main(inside) == 2
    assert "never writes into its inputs" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["generate", "--input", str(dataset), "--out", str(busy), "--backend", "ray", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_without_ray_the_ray_backend_is_one_line_naming_the_extra(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["generate", "--input", str(dataset), "--out", str(tmp_path / "o"), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert "synthtumor[dist]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_ray_options_with_the_local_backend_are_refused(dataset, tmp_path, capsys):
    assert main(["generate", "--input", str(dataset), "--out", str(tmp_path / "o"), "--gpus-per-task", "1"]) == 2
    assert "need --backend ray" in capsys.readouterr().err
