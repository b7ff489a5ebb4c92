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

Latent mode (``mode: latent``) trains in two stages from the same call: stage 1, the
``AutoencoderKL`` for ``latent.autoencoder_steps`` steps (:mod:`.autoencoder`); stage 2, this
loop on its latents with the autoencoder frozen: ``x_0``, the context and the mask become the
scaled latent of the cube, the latent of the blanked cube and the mask max-pooled to the latent
grid (:class:`~synthtumor.generators.diffusion.latent.LatentCodec`), and the weights ``w`` apply
on that grid to every latent channel. The latent scale ``s = 1 / std`` comes from the first
denoiser batch and is stored in every stage-2 checkpoint. Steps are numbered on through both
stages (``1..A`` autoencoder, ``A+1..A+train.max_steps`` denoiser), so ``--resume`` picks up in
either stage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from diffusers import DDPMScheduler
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel

from synthtumor.errors import ConfigError
from synthtumor.generators.diffusion.autoencoder import train_autoencoder
from synthtumor.generators.diffusion.batches import (
    accumulated_step,
    noise_and_timesteps,
    seed_of,
    seeded_init,
    training_batch,
)
from synthtumor.generators.diffusion.checkpoint import (
    checkpoint_state,
    latest_checkpoint,
    load_checkpoint_file,
    load_checkpoint_state,
    prune_checkpoints,
    save_checkpoint,
    write_run_config,
)
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.data import LesionCubes
from synthtumor.generators.diffusion.latent import (
    LatentCodec,
    build_autoencoder,
    estimate_scale_factor,
)
from synthtumor.generators.diffusion.model import (
    build_unet,
    model_input,
    train_scheduler,
)
from synthtumor.generators.diffusion.runlog import open_log, plot_log
from synthtumor.training.loop import run_loop

__all__ = ["diffusion_loss", "training_batch", "train_diffusion", "seed_of"]

#: Seed tag of the batch the latent scale factor is estimated on.
_SCALE_TAG = 0x5CA1E


def diffusion_loss(model: torch.nn.Module, scheduler: DDPMScheduler, target: torch.Tensor, mask: torch.Tensor,
                   labels: torch.Tensor | None, noise: torch.Tensor, timesteps: torch.Tensor,
                   mask_weight: float, context: torch.Tensor | None = None) -> torch.Tensor:
    """The mask-weighted MSE of one batch (see module docstring).

    Args:
        model: the denoiser.
        scheduler: the training schedule (its ``prediction_type`` picks the goal).
        target: (B, C, n, n, n) clean cubes in [-1, 1] (C = 1) or scaled latents.
        mask: (B, 1, n, n, n) float, 1 where the lesion is generated.
        labels: (B,) class labels, or None without conditioning.
        noise: like ``target``, standard normal.
        timesteps: (B,) integer timesteps.
        mask_weight: loss weight inside the mask (1 outside).
        context: (B, C, n, n, n) context input; default ``target`` with the mask blanked (pixel mode).
    """
    noisy = scheduler.add_noise(target, noise, timesteps)
    if context is None:
        context = target * (1.0 - mask)
    pred = model(model_input(noisy, context, mask), timesteps=timesteps, class_labels=labels).float()
    goal = noise if scheduler.config.prediction_type == "epsilon" else scheduler.get_velocity(target, noise, timesteps)
    weight = (1.0 + (mask_weight - 1.0) * mask).expand_as(pred)
    return (weight * (pred - goal) ** 2).sum() / weight.sum()


def _inputs(codec: LatentCodec | None, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(x_0, context, mask) of the denoiser: the cubes themselves, or their latents."""
    if codec is None:
        return target, target * (1.0 - mask), mask
    return codec.denoiser_inputs(target, mask)


@torch.no_grad()
def _validation_loss(model: torch.nn.Module, scheduler: DDPMScheduler, val: LesionCubes, config: DiffusionConfig,
                     device: torch.device, conditioned: bool, codec: LatentCodec | None) -> float:
    """Mean loss on up to 32 validation cubes with fixed noise and evenly spread timesteps."""
    n = min(len(val), 32)
    target = torch.from_numpy(val.target[:n])[:, None]
    mask = torch.from_numpy(val.mask[:n]).float()[:, None]
    labels = torch.from_numpy(val.labels[:n]) if conditioned else None
    grid = config.data.cube_voxels // (config.latent.downsampling if codec is not None else 1)
    noise, _ = noise_and_timesteps((n, config.channels, grid, grid, grid), 1, seed_of(config.train.seed, 0xBA1))
    steps = torch.linspace(0, config.schedule.num_train_timesteps - 1, n).long()
    losses = []
    for lo in range(0, n, config.train.batch_size):
        sl = slice(lo, lo + config.train.batch_size)
        lab = labels[sl].to(device) if labels is not None else None
        x0, context, m = _inputs(codec, target[sl].to(device), mask[sl].to(device))
        loss = diffusion_loss(model, scheduler, x0, m, lab, noise[sl].to(device), steps[sl].to(device),
                              config.train.mask_weight, context=context)
        losses.append(float(loss) * (min(lo + config.train.batch_size, n) - lo))
    return sum(losses) / n


def _first_stage(accelerator: Accelerator, train: LesionCubes, val: LesionCubes, config: DiffusionConfig,
                 run_dir: Path, folder: Path | None, state: dict[str, Any] | None, elapsed: float,
                 quiet: bool) -> tuple[LatentCodec, float, Path | None]:
    """Latent mode: the frozen autoencoder with its scale (trained or finished now, or read from a
    denoiser checkpoint), training seconds so far, and the denoiser checkpoint to resume (or None)."""
    tc, device = config.train, accelerator.device
    if state is not None and state["stage"] == "denoiser":
        autoencoder = build_autoencoder(config)
        autoencoder.load_state_dict(load_checkpoint_file(folder, "autoencoder"))
        return LatentCodec.frozen(autoencoder.to(device), state["scale_factor"], config), elapsed, folder
    autoencoder, elapsed = train_autoencoder(accelerator, train, val, config, run_dir, folder=folder,
                                             elapsed=elapsed, quiet=quiet)
    offset = config.latent.autoencoder_steps
    rng = np.random.default_rng([tc.seed, offset, _SCALE_TAG])  # rank-independent: every process agrees
    first, _, _ = training_batch(train, tc.batch_size, rng, config.data.flip_augment)
    autoencoder.eval()
    scale = estimate_scale_factor(autoencoder, first.to(device))
    return LatentCodec.frozen(autoencoder, scale, config), elapsed, None


def train_diffusion(train: LesionCubes, val: LesionCubes, config: DiffusionConfig, run_dir: str | Path, *,
                    resume: bool = False, quiet: bool = False, data_summary: dict[str, Any] | None = None) -> Path:
    """Train for ``config.train.max_steps`` denoiser steps (after ``latent.autoencoder_steps``
    autoencoder steps in latent mode); return ``run_dir``.

    Args:
        train: training cubes (:func:`~synthtumor.generators.diffusion.data.build_training_cubes`).
        val: validation cubes (may be empty).
        config: the resolved preset (pixel or latent mode).
        run_dir: the run folder (see :mod:`~synthtumor.generators.diffusion.checkpoint`).
        resume: continue from the run's last checkpoint, in whichever stage it is (from scratch
            where there is none).
        quiet: no progress bar.
        data_summary: what ``config.json`` records about the data.

    Raises:
        ConfigError: no training cubes, or a schedule that leaves signal at its last step.
    """
    if not len(train):
        raise ConfigError("there are no training cubes (every lesion went to validation, or none was found).",
                          fix="lower data.val_fraction, or train on a dataset with tumours in more scans.")
    run_dir = Path(run_dir)
    tc = config.train
    use_bf16 = tc.mixed_precision == "bf16" and torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision="bf16" if use_bf16 else "no",
                              gradient_accumulation_steps=tc.gradient_accumulation_steps)
    device = accelerator.device
    folder = latest_checkpoint(run_dir) if resume else None
    state = checkpoint_state(folder) if folder is not None else None
    if config.mode == "latent" and state is not None and state["stage"] == "denoiser":
        # stage 2 began: the autoencoder's length is history, whatever the config now says
        config = config.replace_latent(autoencoder_steps=int(state["autoencoder_steps"]))
    elif config.mode == "latent" and state is not None and int(state["step"]) > config.latent.autoencoder_steps:
        # a smaller --max-steps on resume: the autoencoder stops where it already is
        config = config.replace_latent(autoencoder_steps=int(state["step"]))
    offset = config.latent.autoencoder_steps if config.mode == "latent" else 0
    if accelerator.is_main_process:
        write_run_config(run_dir, config, data_summary)
    elapsed = float(state.get("elapsed_s", 0.0)) if state is not None else 0.0
    codec = None
    if config.mode == "latent":
        codec, elapsed, folder = _first_stage(accelerator, train, val, config, run_dir, folder, state, elapsed, quiet)
    scheduler = train_scheduler(config)
    with seeded_init(seed_of(tc.seed, 0x1417)):
        model = build_unet(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, tc.warmup_steps, tc.max_steps)
    ema = EMAModel(model.parameters(), decay=tc.ema_decay)
    step = offset
    if folder is not None:
        weights, ema_weights, opt_state, state = load_checkpoint_state(folder)
        model.load_state_dict(weights)
        optimizer.load_state_dict(opt_state["optimizer"])
        lr_schedule.load_state_dict(opt_state["lr_scheduler"])
        ema.load_state_dict({**state["ema"], "shadow_params": [ema_weights[n] for n, _ in model.named_parameters()]})
        step, elapsed = int(state["step"]), float(state.get("elapsed_s", 0.0))
    model, optimizer, lr_schedule = accelerator.prepare(model, optimizer, lr_schedule)
    net = accelerator.unwrap_model(model)
    ema.to(device)
    conditioned = bool(config.model.conditioning)
    rank, main = accelerator.process_index, accelerator.is_main_process
    end = offset + tc.max_steps
    latent_state = {} if codec is None else {"autoencoder_steps": offset, "scale_factor": codec.scale_factor}

    clock = {"elapsed": elapsed}

    def one_step(number: int) -> dict[str, Any]:
        start = time.perf_counter()
        def draw(micro: int) -> tuple[torch.Tensor, ...]:
            rng = np.random.default_rng([tc.seed, number - 1, micro, rank])
            target, mask, labels = training_batch(train, tc.batch_size, rng, config.data.flip_augment)
            x0, context, m = _inputs(codec, target.to(device), mask.to(device))
            noise, timesteps = noise_and_timesteps(tuple(x0.shape), config.schedule.num_train_timesteps,
                                                   seed_of(tc.seed, number - 1, micro, rank))
            return x0, m, labels.to(device) if conditioned else None, noise.to(device), timesteps.to(device), context

        def loss_of(x0, m, labels, noise, timesteps, context) -> torch.Tensor:
            return diffusion_loss(model, scheduler, x0, m, labels, noise, timesteps, tc.mask_weight, context=context)

        total = accumulated_step(accelerator, model, optimizer, lr_schedule, tc.gradient_accumulation_steps,
                                 tc.max_grad_norm, draw, loss_of)
        ema.step(net.parameters())
        clock["elapsed"] += time.perf_counter() - start
        row = {"step": number, "stage": "denoiser", "loss": round(total, 6),
               "lr": f"{lr_schedule.get_last_lr()[0]:.3e}", "val_loss": "", "elapsed_s": round(clock["elapsed"], 2)}
        if len(val) and ((number - offset) % tc.val_every == 0 or number == end):
            model.eval()
            ema.store(net.parameters())
            ema.copy_to(net.parameters())
            row["val_loss"] = round(_validation_loss(net, scheduler, val, config, device, conditioned, codec), 6)
            ema.restore(net.parameters())
            model.train()
        return row

    def save(number: int) -> None:
        ema_state = dict(net.state_dict())
        for (name, _), shadow in zip(net.named_parameters(), ema.shadow_params):
            ema_state[name] = shadow
        ema_scalars = {k: v for k, v in ema.state_dict().items() if k != "shadow_params"}
        save_checkpoint(run_dir, number, net, ema_state,
                        {"optimizer": optimizer.state_dict(), "lr_scheduler": lr_schedule.state_dict()},
                        {"stage": "denoiser", **latent_state, "ema": ema_scalars, "device": device.type,
                         "mixed_precision": accelerator.mixed_precision, "elapsed_s": round(clock["elapsed"], 3),
                         "train_cubes": len(train), "val_cubes": len(val)},
                        extra=None if codec is None else {"autoencoder": codec.autoencoder.state_dict()})
        prune_checkpoints(run_dir, tc.keep_checkpoints)
        plot_log(run_dir, log.rows)

    model.train()
    log = open_log(run_dir, step, main)
    run_loop(accelerator, start=step, end=end, step_fn=one_step, log=log, checkpoint_every=tc.checkpoint_every,
             save=save, desc="train-diffusion", quiet=quiet, first_step=offset)
    accelerator.wait_for_everyone()
    return run_dir
