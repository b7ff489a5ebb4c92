"""The training log of a diffusion run: ``RUN/log.csv`` and its plot ``RUN/loss_curve.png``.

One row per optimizer step: ``step`` (numbered on through both stages in latent mode),
``stage`` (``autoencoder`` or ``denoiser``), ``loss`` (the step's training loss: the
mask-weighted MSE of the denoiser, or L1 + weighted KL of the autoencoder), ``lr``,
``val_loss`` (empty between validations: the EMA denoiser's loss, or the autoencoder's L1
reconstruction error on [-1, 1] cubes) and ``elapsed_s`` (training seconds so far).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.io.case_io import write_text_atomic

__all__ = ["LOG_FIELDS", "read_log", "write_log"]

LOG_FIELDS = ("step", "stage", "loss", "lr", "val_loss", "elapsed_s")
_YLABEL = {"denoiser": "weighted MSE", "autoencoder": "L1 + KL"}


def read_log(run_dir: Path, up_to: int) -> list[dict[str, Any]]:
    """The rows of ``run_dir/log.csv`` up to step ``up_to`` (a log without ``stage`` is a denoiser's)."""
    path = run_dir / "log.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [dict(r, step=int(r["step"]), stage=r.get("stage") or "denoiser")
                for r in csv.DictReader(f) if int(r["step"]) <= up_to]


def write_log(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``log.csv`` and ``loss_curve.png`` (one panel per stage), both through temporary names."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(buffer.getvalue(), run_dir / "log.csv")
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in ("autoencoder", "denoiser") if any(r["stage"] == s for r in rows)]
    fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 3.5), dpi=100, squeeze=False)
    for ax, stage in zip(axes[0], stages):
        part = [r for r in rows if r["stage"] == stage]
        steps = np.array([r["step"] for r in part], float)
        loss = np.array([r["loss"] for r in part], float)
        ax.plot(steps, loss, lw=0.6, alpha=0.4, label="train (per step)")
        k = max(1, len(loss) // 50)
        if len(loss) > k:
            ax.plot(steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid"), lw=1.5,
                    label=f"train (mean of {k})")
        val = [(r["step"], float(r["val_loss"])) for r in part if r["val_loss"] != ""]
        if val:
            ax.plot(*zip(*val), "o-", ms=3, label="validation (EMA)" if stage == "denoiser" else "validation L1")
        ax.set(xlabel="optimizer step", ylabel=_YLABEL[stage], yscale="log", title=f"diffusion training: {stage}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = run_dir / ".loss_curve.tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(run_dir / "loss_curve.png")
