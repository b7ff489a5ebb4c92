"""The one training loop: steps, progress bar, CSV log, checkpoints, resume, main-process writes.

The segmentation trainer (:mod:`synthtumor.train_seg.trainer`), the diffusion denoiser
(:mod:`synthtumor.generators.diffusion.train`) and its autoencoder
(:mod:`synthtumor.generators.diffusion.autoencoder`) each give :func:`run_loop` two hooks, as
nnU-Net's trainer subclasses do: ``step_fn(step)`` runs optimiser step ``step`` (data, loss,
backward, optimiser and schedule, EMA or validation where the caller has them) and returns the
step's log row; ``save(step)`` writes a checkpoint in the one format of
:mod:`synthtumor.training.checkpoints`. The loop owns everything else:

- a non-finite loss stops training with :class:`~synthtumor.errors.TrainingError` naming the
  step and the last checkpoint, before anything more is written;
- every ``checkpoint_every`` steps (counted from ``first_step``) and at the last step, all
  processes meet (``accelerator.wait_for_everyone``) and only the main process saves;
- only the main process writes the log and shows the progress bar, so ``accelerate launch`` on
  several GPUs never has two processes writing one file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from synthtumor.errors import TrainingError
from synthtumor.io.case_io import write_text_atomic

__all__ = ["RunLog", "run_loop"]


class RunLog:
    """A run's ``log.csv``: one row per optimiser step, written by the main process only.

    On resume the rows up to the checkpoint's step are kept (later ones, from steps after the
    checkpoint that a crash threw away, are dropped) and new rows are appended and flushed step
    by step, so the file can be watched while training runs.

    Args:
        path: the CSV file.
        fields: its columns, in order.
        up_to: keep the existing rows with ``step <= up_to`` (None: start a new log).
        enabled: False on processes other than the main one: nothing is read or written, the
            new rows are kept in memory only.
        defaults: values for columns an older log lacks (e.g. ``{"stage": "denoiser"}``).
    """

    def __init__(self, path: Path, fields: Sequence[str], *, up_to: int | None = None, enabled: bool = True,
                 defaults: dict[str, Any] | None = None) -> None:
        self.path, self.fields, self.enabled = Path(path), tuple(fields), enabled
        self.rows: list[dict[str, Any]] = read_rows(self.path, up_to) if (up_to is not None and enabled) else []
        for row in self.rows:
            for key, value in (defaults or {}).items():
                if not row.get(key):
                    row[key] = value
        self._handle = None
        if enabled:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)
            write_text_atomic(buffer.getvalue(), self.path)
            self._handle = open(self.path, "a", newline="")
            self._writer = csv.DictWriter(self._handle, fieldnames=self.fields, extrasaction="ignore")

    def append(self, row: dict[str, Any]) -> None:
        """Add one step's row (and write it, on the main process)."""
        self.rows.append(row)
        if self._handle is not None:
            self._writer.writerow(row)
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_rows(path: Path, up_to: int) -> list[dict[str, Any]]:
    """The rows of a log with ``step <= up_to`` (``step`` as int, other values as read)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [dict(row, step=int(row["step"])) for row in csv.DictReader(handle)
                if row.get("step", "").isdigit() and int(row["step"]) <= up_to]


def run_loop(accelerator, *, start: int, end: int, step_fn: Callable[[int], dict[str, Any]], log: RunLog,
             checkpoint_every: int, save: Callable[[int], None], desc: str, quiet: bool = False,
             first_step: int = 0, last_checkpoint: int | None = None,
             nan_fix: str = "check the scans for extreme intensities, or lower the learning rate.") -> int:
    """Run optimiser steps ``start + 1 .. end``; return the last step done.

    Args:
        accelerator: the run's ``accelerate.Accelerator``.
        start: the last step already done (0, or a checkpoint's step on resume).
        end: the last step to do.
        step_fn: runs step ``step`` and returns its log row, which holds ``"loss"``.
        log: where rows go.
        checkpoint_every: save every this many steps, counted from ``first_step``.
        save: writes a checkpoint of step ``step``; called on the main process only.
        desc: the progress bar's label.
        quiet: no progress bar.
        first_step: the step this loop's numbering starts from (a second stage numbers on from
            the first stage's last step).
        last_checkpoint: the step of the newest checkpoint before ``start`` (for the error
            message; default ``start`` where it is past ``first_step``).
        nan_fix: the fix a non-finite loss's error suggests.

    Raises:
        TrainingError: a step's loss is NaN or infinite.
    """
    main = accelerator.is_main_process
    saved = last_checkpoint if last_checkpoint is not None else (start if start > first_step else None)
    bar = tqdm(total=end - first_step, initial=start - first_step, desc=desc, unit="step", disable=quiet or not main)
    step = start
    try:
        while step < end:
            step += 1
            row = step_fn(step)
            loss = float(row["loss"])
            if not math.isfinite(loss):
                where = f"the checkpoint of step {saved} is kept" if saved else "no checkpoint was written yet"
                raise TrainingError(f"the training loss became {loss} at step {step}; training stopped and {where}.",
                                    fix=nan_fix)
            log.append(row)
            bar.update()
            bar.set_postfix(loss=f"{loss:.4g}")
            if (step - first_step) % checkpoint_every == 0 or step == end:
                accelerator.wait_for_everyone()
                if main:
                    save(step)
                saved = step
    finally:
        bar.close()
        log.close()
    return step
