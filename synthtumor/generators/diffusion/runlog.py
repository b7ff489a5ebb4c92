"""The training log of a diffusion run: ``RUN/log.csv`` (a :class:`~synthtumor.training.loop.RunLog`,
written step by step) and its plot ``RUN/loss_curve.png`` (redrawn at every checkpoint).

One row per optimizer step: ``step`` (numbered on through both stages in latent mode),
``stage`` (``autoencoder`` or ``denoiser``), ``loss`` (the step's training loss: the
mask-weighted MSE of the denoiser, or L1 + weighted KL of the autoencoder), ``lr``,
``val_loss`` (empty between validations: the EMA denoiser's loss, or the autoencoder's L1
reconstruction error on [-1, 1] cubes) and ``elapsed_s`` (training seconds so far).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.training.loop import RunLog

__all__ = ["LOG_FIELDS", "open_log", "plot_log"]

LOG_FIELDS = ("step", "stage", "loss", "lr", "val_loss", "elapsed_s")
_YLABEL = {"denoiser": "weighted MSE", "autoencoder": "L1 + KL"}


def open_log(run_dir: Path, up_to: int, main: bool) -> RunLog:
    """The run's log, keeping its rows up to step ``up_to`` (a row without ``stage`` is a
    denoiser's, as logs before latent mode wrote them); written by the main process only."""
    return RunLog(run_dir / "log.csv", LOG_FIELDS, up_to=up_to, enabled=main, defaults={"stage": "denoiser"})


def plot_log(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``loss_curve.png`` (one panel per stage) through a temporary name."""
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
