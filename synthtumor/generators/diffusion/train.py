"""Training loop of the diffusion lesion generator (accelerate; CPU, one or many GPUs).

One optimizer step draws ``gradient_accumulation_steps`` micro-batches of ``batch_size`` cubes
(uniformly with replacement, random axis flips), timesteps ``t ~ U{0..T-1}`` and noise
``eps ~ N(0, I)``, all from generators seeded by ``(train.seed, step, micro-batch)``, so a
resumed run draws what an uninterrupted one would. The loss is the mask-weighted MSE

    L = sum_v w_v (f(x_t, context, mask, t)_v - y_v)^2 / sum_v w_v,
    w_v = mask_weight inside the mask, 1 outside,

with ``y = eps`` (epsilon prediction) or ``y = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0``
(v prediction, ``DDPMScheduler.get_velocity``). AdamW, linear warm-up then cosine decay
(``get_cosine_schedule_with_warmup``), gradient clipping, an EMA of the weights (diffusers
``EMAModel``, decay ``min(ema_decay, (1 + k) / (10 + k))`` at update ``k``; used for validation
and sampling). bf16 autocast only where a GPU is present and
the preset asks for it; fp32 on the CPU.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from diffusers import DDPMScheduler
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from synthtumor.errors import ConfigError
from synthtumor.generators.diffusion.checkpoint import (
    latest_checkpoint,
    load_checkpoint_state,
    prune_checkpoints,
    save_checkpoint,
    write_run_config,
)
from synthtumor.generators.diffusion.config import DiffusionConfig, require_pixel_mode
from synthtumor.generators.diffusion.data import LesionCubes
from synthtumor.generators.diffusion.model import build_unet, model_input, train_scheduler
from synthtumor.io.case_io import write_text_atomic

__all__ = ["diffusion_loss", "training_batch", "train_diffusion", "seed_of"]

_LOG_FIELDS = ("step", "loss", "lr", "val_loss", "elapsed_s")


def seed_of(*parts: int) -> int:
    """A 63-bit seed derived from integers (never from a global RNG)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def diffusion_loss(model: torch.nn.Module, scheduler: DDPMScheduler, target: torch.Tensor, mask: torch.Tensor,
                   labels: torch.Tensor | None, noise: torch.Tensor, timesteps: torch.Tensor,
                   mask_weight: float) -> torch.Tensor:
    """The mask-weighted MSE of one batch (see module docstring).

    Args:
        model: the denoiser.
        scheduler: the training schedule (its ``prediction_type`` picks the goal).
        target: (B, 1, n, n, n) clean cubes in [-1, 1].
        mask: (B, 1, n, n, n) float, 1 where the lesion is generated.
        labels: (B,) class labels, or None without conditioning.
        noise: like ``target``, standard normal.
        timesteps: (B,) integer timesteps.
        mask_weight: loss weight inside the mask (1 outside).
    """
    noisy = scheduler.add_noise(target, noise, timesteps)
    context = target * (1.0 - mask)
    pred = model(model_input(noisy, context, mask), timesteps=timesteps, class_labels=labels).float()
    goal = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(target, noise, timesteps)
    weight = 1.0 + (mask_weight - 1.0) * mask
    return (weight * (pred - goal) ** 2).sum() / weight.sum()


def training_batch(cubes: LesionCubes, size: int, rng: np.random.Generator, flip: bool) -> tuple[torch.Tensor, ...]:
    """(target, mask, labels) of ``size`` cubes drawn with replacement, randomly flipped."""
    index = rng.integers(0, len(cubes), size)
    target, mask = cubes.target[index], cubes.mask[index]
    if flip:
        target, mask = target.copy(), mask.copy()
        for b in range(size):
            axes = tuple(int(a) for a in np.flatnonzero(rng.random(3) < 0.5))
            if axes:
                target[b] = np.flip(target[b], axes)
                mask[b] = np.flip(mask[b], axes)
    return (torch.from_numpy(np.ascontiguousarray(target))[:, None],
            torch.from_numpy(np.ascontiguousarray(mask)).float()[:, None],
            torch.from_numpy(cubes.labels[index].astype(np.int64)))


def _noise(shape: torch.Size, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen), torch.randint(0, steps, (shape[0],), generator=gen)


@torch.no_grad()
def _validation_loss(model: torch.nn.Module, scheduler: DDPMScheduler, val: LesionCubes, config: DiffusionConfig,
                     device: torch.device, conditioned: bool) -> float:
    """Mean loss on up to 32 validation cubes with fixed noise and evenly spread timesteps."""
    n = min(len(val), 32)
    target = torch.from_numpy(val.target[:n])[:, None]
    mask = torch.from_numpy(val.mask[:n]).float()[:, None]
    labels = torch.from_numpy(val.labels[:n]) if conditioned else None
    noise, _ = _noise(target.shape, 1, seed_of(config.train.seed, 0xBA1))
    steps = torch.linspace(0, config.schedule.num_train_timesteps - 1, n).long()
    losses = []
    for lo in range(0, n, config.train.batch_size):
        sl = slice(lo, lo + config.train.batch_size)
        lab = labels[sl].to(device) if labels is not None else None
        loss = diffusion_loss(model, scheduler, target[sl].to(device), mask[sl].to(device), lab,
                              noise[sl].to(device), steps[sl].to(device), config.train.mask_weight)
        losses.append(float(loss) * (min(lo + config.train.batch_size, n) - lo))
    return sum(losses) / n


def _write_log(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(buffer.getvalue(), run_dir / "log.csv")
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.array([r["step"] for r in rows], float)
    loss = np.array([r["loss"] for r in rows], float)
    ax.plot(steps, loss, lw=0.6, alpha=0.4, label="train (per step)")
    k = max(1, len(loss) // 50)
    if len(loss) > k:
        ax.plot(steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid"), lw=1.5, label=f"train (mean of {k})")
    val = [(r["step"], r["val_loss"]) for r in rows if r["val_loss"] != ""]
    if val:
        ax.plot(*zip(*val), "o-", ms=3, label="validation (EMA)")
    ax.set(xlabel="optimizer step", ylabel="weighted MSE", yscale="log", title="diffusion training loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = run_dir / ".loss_curve.tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(run_dir / "loss_curve.png")


def _read_log(run_dir: Path, up_to: int) -> list[dict[str, Any]]:
    path = run_dir / "log.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [dict(r, step=int(r["step"])) for r in csv.DictReader(f) if int(r["step"]) <= up_to]


def train_diffusion(train: LesionCubes, val: LesionCubes, config: DiffusionConfig, run_dir: str | Path, *,
                    resume: bool = False, quiet: bool = False, data_summary: dict[str, Any] | None = None) -> Path:
    """Train for ``config.train.max_steps`` optimizer steps; return ``run_dir``.

    Args:
        train: training cubes (:func:`~synthtumor.generators.diffusion.data.build_training_cubes`).
        val: validation cubes (may be empty).
        config: the resolved preset (pixel mode).
        run_dir: the run folder (see :mod:`~synthtumor.generators.diffusion.checkpoint`).
        resume: continue from the run's last checkpoint (from scratch where there is none).
        quiet: no progress bar.
        data_summary: what ``config.json`` records about the data.

    Raises:
        ConfigError: latent mode, no training cubes, or a schedule that leaves signal at its
            last step.
    """
    require_pixel_mode(config, "be trained")
    if not len(train):
        raise ConfigError("there are no training cubes (every lesion went to validation, or none was found).",
                          fix="lower data.val_fraction, or train on a dataset with tumours in more scans.")
    run_dir = Path(run_dir)
    tc = config.train
    use_bf16 = tc.mixed_precision == "bf16" and torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision="bf16" if use_bf16 else "no",
                              gradient_accumulation_steps=tc.gradient_accumulation_steps)
    device = accelerator.device
    if accelerator.is_main_process:
        write_run_config(run_dir, config, data_summary)
    scheduler = train_scheduler(config)
    model = build_unet(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, tc.warmup_steps, tc.max_steps)
    ema = EMAModel(model.parameters(), decay=tc.ema_decay)
    step, elapsed = 0, 0.0
    folder = latest_checkpoint(run_dir) if resume else None
    if folder is not None:
        weights, ema_weights, opt_state, state = load_checkpoint_state(folder)
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt_state["optimizer"])
        lr_schedule.load_state_dict(opt_state["lr_scheduler"])
        ema.load_state_dict({**state["ema"], "shadow_params": [ema_weights[n] for n, _ in model.named_parameters()]})
        step, elapsed = int(state["step"]), float(state.get("elapsed_s", 0.0))
    rows = _read_log(run_dir, step) if folder is not None else []
    model, optimizer, lr_schedule = accelerator.prepare(model, optimizer, lr_schedule)
    net = accelerator.unwrap_model(model)
    ema.to(device)
    conditioned = bool(config.model.conditioning)
    rank, main = accelerator.process_index, accelerator.is_main_process

    def checkpoint() -> None:
        if not main:
            return
        ema_state = dict(net.state_dict())
        for (name, _), shadow in zip(net.named_parameters(), ema.shadow_params):
            ema_state[name] = shadow
        ema_scalars = {k: v for k, v in ema.state_dict().items() if k != "shadow_params"}
        save_checkpoint(run_dir, step, net, ema_state,
                        {"optimizer": optimizer.state_dict(), "lr_scheduler": lr_schedule.state_dict()},
                        {"ema": ema_scalars, "device": device.type, "mixed_precision": accelerator.mixed_precision,
                         "elapsed_s": round(elapsed, 3), "train_cubes": len(train), "val_cubes": len(val)})
        prune_checkpoints(run_dir, tc.keep_checkpoints)
        _write_log(run_dir, rows)

    bar = tqdm(total=tc.max_steps, initial=step, desc="train-diffusion", unit="step", disable=quiet or not main)
    model.train()
    while step < tc.max_steps:
        start = time.perf_counter()
        total = 0.0
        for micro in range(tc.gradient_accumulation_steps):
            rng = np.random.default_rng([tc.seed, step, micro, rank])
            target, mask, labels = training_batch(train, tc.batch_size, rng, config.data.flip_augment)
            noise, timesteps = _noise(target.shape, config.schedule.num_train_timesteps, seed_of(tc.seed, step, micro, rank))
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    loss = diffusion_loss(model, scheduler, target.to(device), mask.to(device),
                                          labels.to(device) if conditioned else None, noise.to(device),
                                          timesteps.to(device), tc.mask_weight)
                accelerator.backward(loss)
                if accelerator.sync_gradients and tc.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                optimizer.step()
                lr_schedule.step()
                optimizer.zero_grad(set_to_none=True)
            total += float(loss.detach()) / tc.gradient_accumulation_steps
        ema.step(net.parameters())
        step += 1
        elapsed += time.perf_counter() - start
        row = {"step": step, "loss": round(total, 6), "lr": f"{lr_schedule.get_last_lr()[0]:.3e}",
               "val_loss": "", "elapsed_s": round(elapsed, 2)}
        if len(val) and (step % tc.val_every == 0 or step == tc.max_steps):
            model.eval()
            ema.store(net.parameters())
            ema.copy_to(net.parameters())
            row["val_loss"] = round(_validation_loss(net, scheduler, val, config, device, conditioned), 6)
            ema.restore(net.parameters())
            model.train()
        rows.append(row)
        bar.update()
        bar.set_postfix(loss=f"{total:.4f}")
        if step % tc.checkpoint_every == 0 or step == tc.max_steps:
            checkpoint()
    bar.close()
    accelerator.wait_for_everyone()
    return run_dir
