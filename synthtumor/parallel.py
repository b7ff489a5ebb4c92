"""Run a function over items in worker processes, in order, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["map_with_progress"]

T = TypeVar("T")


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
            with ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
                for result in pool.map(fn, items):
                    results.append(result)
                    bar.update()
    finally:
        bar.close()
    return results
