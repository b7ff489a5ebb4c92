"""Worker processes die with their parent (issue 15 item 3): before, ``generate --workers 2``
killed with SIGKILL left its workers writing into the output for tens of seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthtumor.parallel import map_with_progress

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent("""
    import os, sys, time
    from synthtumor.parallel import map_with_progress

    def work(item):
        open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
        time.sleep(60)
        return item

    if __name__ == "__main__":
        map_with_progress(work, [0, 1], workers=2, quiet=True)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    marks = tmp_path / "pids"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's synthtumor, whatever is installed
    parent = subprocess.Popen([sys.executable, str(script), str(marks)], env=env)
    deadline = time.monotonic() + 60
    while len(os.listdir(marks)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(name) for name in os.listdir(marks)]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    end = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its killed parent"


def _square(x: int) -> int:
    return x * x


def test_results_come_back_in_order_with_workers():
    assert map_with_progress(_square, list(range(6)), workers=2, quiet=True) == [0, 1, 4, 9, 16, 25]
