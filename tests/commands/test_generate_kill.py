"""``generate`` killed with SIGKILL at any moment, then run again, writes exactly what an
uninterrupted run writes: the same bytes, no stray file, no worker left running (issue 15 item 3).

Before the fix, temporary files were hidden beside their targets (``imagesTr/.x.tmp.nii.gz``), a
rerun did not remove them (nnU-Net's integrity check then failed), and pool workers outlived the
killed parent and went on writing. Each kill point below is reached by watching the output folder
from outside, as a user's ``kill -9`` (or the cluster's OOM killer) would strike.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import blob_dataset

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find workers")

ROOT = Path(__file__).resolve().parents[2]  # runs this checkout's synthtumor (python -m from its root)
WORK_DIR_NAME = ".synthtumor-tmp"  # synthtumor.io.workdir.WORK_DIR_NAME, spelt out so the test runs on any version
PER_CASE = 2
TIMEOUT_S = 120


def _command(data: Path, out: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "synthtumor.cli", "generate", "--input", str(data), "--out", str(out),
            "--per-case", str(PER_CASE), "--format", "nnunet", "--seed", "3", "--workers", str(workers), "--quiet"]


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones included) -> its SHA-256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _session_members(session: int) -> list[int]:
    """Live processes of a session (the killed command's workers would be there)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _records(out: Path) -> int:
    folder = out / ".records"
    return len([p for p in folder.glob("*.json") if p.name != "run.json"]) if folder.is_dir() else 0


STRAY = re.compile(r"^\..+\.tmp(\d+)?(\.[A-Za-z.]+)?$")  # what the atomic writers once hid beside their targets


def _temp_files(out: Path) -> int:
    """Temporary files of writes in progress: in the work folder, or (older versions) beside their targets."""
    count = 0
    for _, _, files in os.walk(out):
        count += sum(1 for name in files if STRAY.match(name))
    try:
        count += len(os.listdir(out / WORK_DIR_NAME))
    except OSError:
        pass
    return count


# Kill points: a test of the output folder, polled until it holds (or the run ends first).
KILL_POINTS = {
    "before any case": lambda out: (out / ".records" / "run.json").is_file(),
    "during the first write": lambda out: _temp_files(out) > 0,
    "between cases": lambda out: _records(out) >= 1,
    "during a later write": lambda out: _records(out) >= 2 and _temp_files(out) > 0,
}


def _run_and_kill(data: Path, out: Path, workers: int, point) -> bool:
    """Start generate, SIGKILL it when ``point(out)`` holds; True if it was killed (not finished)."""
    proc = subprocess.Popen(_command(data, out, workers), start_new_session=True, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT_S
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        if point(out):
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.0005)
    proc.wait(timeout=TIMEOUT_S)
    proc.stderr.close()
    # no worker goes on writing after its parent is gone
    end = time.monotonic() + 5.0
    while _session_members(proc.pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert _session_members(proc.pid) == [], "worker processes outlived the killed generate"
    return killed


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return blob_dataset(tmp_path_factory.mktemp("kill") / "data", n=2)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("kill") / "whole"
    subprocess.run(_command(dataset, out, 1), check=True, cwd=ROOT)
    return _tree(out)


@pytest.mark.parametrize("workers", [1, 2])
def test_generate_killed_anywhere_then_rerun_writes_the_same_bytes(dataset, uninterrupted, tmp_path, workers):
    integrity = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity",
                                    reason="nnunetv2 is not installed (pip install -e '.[nnunet]')")
    for name, point in KILL_POINTS.items():
        for attempt in range(4):  # a write is short: if the run ended before one was seen, try again
            out = tmp_path / f"{name.replace(' ', '_')}_{attempt}"
            if _run_and_kill(dataset, out, workers, point):
                break
        else:
            pytest.fail(f"generate was never caught {name}")
        subprocess.run(_command(dataset, out, workers), check=True, cwd=ROOT)
        assert not (out / WORK_DIR_NAME).exists()
        assert _tree(out) == uninterrupted, f"killed {name}: the rerun's files differ from an uninterrupted run"
        integrity.verify_dataset_integrity(str(out / "Dataset501_SynthTumor"), num_processes=1)


def test_a_rerun_sweeps_what_an_older_version_left_beside_the_outputs(dataset, uninterrupted, tmp_path):
    out = tmp_path / "old"
    assert _run_and_kill(dataset, out, 1, KILL_POINTS["between cases"])
    stray = out / "Dataset501_SynthTumor" / "imagesTr" / ".blob1_syn00_0000.nii.gz.k3j2x9.tmp.nii.gz"
    stray.write_bytes(b"\x1f\x8b half a gzip")
    (out / ".records" / ".blob1_syn00.json.tmp4711").write_text("{")
    subprocess.run(_command(dataset, out, 1), check=True, cwd=ROOT)
    assert _tree(out) == uninterrupted
