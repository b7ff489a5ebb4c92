"""Run a function over items in worker processes, in order, with a progress bar.

Workers die with the process that started them: a parent killed with SIGKILL (which no handler
can catch) must not leave workers writing into the output for tens of seconds, racing the
rerun. On Linux the kernel sends each worker SIGKILL when its parent dies (``prctl``
``PR_SET_PDEATHSIG``); elsewhere a thread in each worker polls for the parent and exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["map_with_progress", "die_with_parent"]

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the process ``parent`` (which forked it) ends.

    Args:
        parent: the pid of the process that created the pool.
    """
    forked = multiprocessing.get_start_method(allow_none=True) in (None, "fork")
    actual = os.getppid()
    if forked and actual != parent:  # the parent died before this worker got here
        os._exit(1)
    if not _set_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(actual,), daemon=True, name="parent-watch").start()
    elif os.getppid() != actual:  # it died while the signal was being set
        os._exit(1)


def map_with_progress(fn: Callable[[Any], T], items: Sequence[Any], *, workers: int = 1, quiet: bool = False,
                      desc: str = "", unit: str = "case", done: int = 0, total: int | None = None) -> list[T]:
    """``[fn(item) for item in items]``, in ``workers`` processes when more than one, results in order.

    Args:
        fn: a picklable function of one item.
        items: the items.
        workers: processes (1 runs in this process).
        quiet: no progress bar.
        desc: the bar's label.
        unit: the bar's unit.
        done: items already finished before this call (the bar starts there).
        total: the bar's total (default ``done + len(items)``).
    """
    bar = tqdm(total=total if total is not None else done + len(items), initial=done, desc=desc, unit=unit,
               disable=quiet)
    results: list[T] = []
    try:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(fn(item))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=die_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                for result in pool.map(fn, items):
                    results.append(result)
                    bar.update()
    finally:
        bar.close()
    return results
