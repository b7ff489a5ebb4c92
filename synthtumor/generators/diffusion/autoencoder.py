"""Stage 1 of latent mode: train MONAI's ``AutoencoderKL`` on the training cubes (accelerate).

The autoencoder (:func:`~synthtumor.generators.diffusion.latent.build_autoencoder`) learns the
target cubes ``x`` (B, 1, n, n, n) in [-1, 1] with

    L = mean_v |D(z)_v - x_v| + kl_weight KL,    z = mu + sigma eps,  eps ~ N(0, I),
    KL = (1 / B) sum_b 0.5 sum_(c, latent voxels) (mu^2 + sigma^2 - log sigma^2 - 1)

(the KL term per cube, averaged over the batch, as in MONAI's generative tutorials). There is no
perceptual or adversarial term: nothing downloads weights. Batches (random axis flips
included) are drawn as the denoiser's are, from ``(train.seed, step, micro-batch, rank)``, and
``eps`` from a ``torch.Generator`` seeded from the same numbers, so a resumed run draws what an
uninterrupted one would; the initial weights come from ``train.seed`` too. AdamW
(``latent.learning_rate``, ``train.weight_decay``), linear warm-up over
``min(train.warmup_steps, A // 10)`` steps then cosine decay to 0 at
``A = latent.autoencoder_steps``, gradient clipping at ``train.max_grad_norm``, no EMA.
Validation reports the L1 error of ``D(mu)`` on up to 32 validation cubes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from diffusers.optimization import get_cosine_schedule_with_warmup
from monai.networks.nets import AutoencoderKL

from synthtumor.generators.diffusion.batches import accumulated_step, seed_of, seeded_init, training_batch
from synthtumor.generators.diffusion.checkpoint import (
    checkpoint_state,
    load_checkpoint_file,
    prune_checkpoints,
    save_checkpoint,
)
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.data import LesionCubes
from synthtumor.generators.diffusion.latent import build_autoencoder
from synthtumor.generators.diffusion.runlog import open_log, plot_log
from synthtumor.training.checkpoints import load_optimizer_state
from synthtumor.training.loop import run_loop

__all__ = ["kl_divergence", "autoencoder_loss", "reconstruction_l1", "train_autoencoder"]

#: Tag mixed into the seed of the reparameterisation noise (keeps it apart from other draws).
_EPS_TAG = 0xAE


class _Reparameterised(torch.nn.Module):
    """``x, eps -> (D(mu + sigma eps), mu, sigma)``: the autoencoder's forward with explicit noise
    (MONAI's ``sampling`` draws from the global RNG), one module so accelerate/DDP can wrap it."""

    def __init__(self, autoencoder: AutoencoderKL) -> None:
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, sigma = self.autoencoder.encode(x)
        return self.autoencoder.decode(mu + sigma * eps), mu, sigma


def kl_divergence(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed per cube over channels and latent voxels, batch mean."""
    var = sigma.float() ** 2
    per_cube = 0.5 * (mu.float() ** 2 + var - torch.log(var.clamp_min(1e-30)) - 1.0).flatten(1).sum(1)
    return per_cube.mean()


def autoencoder_loss(autoencoder: torch.nn.Module, cubes: torch.Tensor, eps: torch.Tensor,
                     kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1 + kl_weight KL, L1) of one batch (see module docstring).

    Args:
        autoencoder: an ``AutoencoderKL``, or it wrapped by :class:`_Reparameterised` (and accelerate).
        cubes: (B, 1, n, n, n) in [-1, 1].
        eps: (B, C, n/f, n/f, n/f) standard normal: the reparameterisation noise.
        kl_weight: weight of the KL term.
    """
    net = autoencoder if not isinstance(autoencoder, AutoencoderKL) else _Reparameterised(autoencoder)
    recon, mu, sigma = net(cubes, eps)
    l1 = (recon.float() - cubes.float()).abs().mean()
    return l1 + kl_weight * kl_divergence(mu, sigma), l1


@torch.no_grad()
def reconstruction_l1(autoencoder: AutoencoderKL, cubes: LesionCubes, batch_size: int, device: torch.device) -> float:
    """Mean L1 error of ``D(mu(x))`` on up to 32 cubes (units of the [-1, 1] scale; x 250 gives HU
    for the default 500 HU window)."""
    n = min(len(cubes), 32)
    total = 0.0
    for lo in range(0, n, batch_size):
        x = torch.from_numpy(cubes.target[lo:min(lo + batch_size, n)])[:, None].to(device)
        total += float((autoencoder.reconstruct(x).float() - x).abs().mean()) * x.shape[0]
    return total / n


def _eps(shape: tuple[int, ...], *parts: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed_of(*parts, _EPS_TAG)))


def train_autoencoder(accelerator: Accelerator, train: LesionCubes, val: LesionCubes, config: DiffusionConfig,
                      run_dir: Path, *, folder: Path | None, elapsed: float,
                      quiet: bool = False) -> tuple[AutoencoderKL, float]:
    """Run (or finish) stage 1 up to step ``A = latent.autoencoder_steps``.

    Args:
        accelerator: the run's accelerator.
        train: training cubes; val: validation cubes (may be empty).
        config: the resolved latent-mode preset.
        run_dir: the run folder; checkpoints go to ``run_dir/checkpoints`` with ``"stage":
            "autoencoder"`` every ``train.checkpoint_every`` steps and at step ``A``.
        folder: an autoencoder-stage checkpoint to resume from, or None (from scratch).
        The run's ``log.csv`` gets a row per step (``stage`` ``autoencoder``).
        elapsed: training seconds so far.
        quiet: no progress bar.

    Returns:
        (the trained autoencoder, unwrapped, on the accelerator's device; training seconds so far).
    """
    tc, lc = config.train, config.latent
    total_steps = lc.autoencoder_steps
    with seeded_init(seed_of(tc.seed, _EPS_TAG, 0)):
        wrapped = _Reparameterised(build_autoencoder(config))
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=lc.learning_rate, weight_decay=tc.weight_decay)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, min(tc.warmup_steps, total_steps // 10), total_steps)
    step = 0
    if folder is not None:
        state = checkpoint_state(folder)
        wrapped.autoencoder.load_state_dict(load_checkpoint_file(folder, "autoencoder"))
        opt_state = load_optimizer_state(folder)
        optimizer.load_state_dict(opt_state["optimizer"])
        lr_schedule.load_state_dict(opt_state["lr_scheduler"])
        step, elapsed = int(state["step"]), float(state.get("elapsed_s", elapsed))
    model, optimizer, lr_schedule = accelerator.prepare(wrapped, optimizer, lr_schedule)
    net: AutoencoderKL = accelerator.unwrap_model(model).autoencoder
    device, rank, main = accelerator.device, accelerator.process_index, accelerator.is_main_process
    grid = config.data.cube_voxels // lc.downsampling
    eps_shape = (tc.batch_size, lc.latent_channels, grid, grid, grid)

    clock = {"elapsed": elapsed}

    def one_step(number: int) -> dict[str, Any]:
        start = time.perf_counter()
        def draw(micro: int) -> tuple[torch.Tensor, torch.Tensor]:
            rng = np.random.default_rng([tc.seed, number - 1, micro, rank])
            target, _, _ = training_batch(train, tc.batch_size, rng, config.data.flip_augment)
            return target.to(device), _eps(eps_shape, tc.seed, number - 1, micro, rank).to(device)

        loss_sum = accumulated_step(accelerator, model, optimizer, lr_schedule, tc.gradient_accumulation_steps,
                                    tc.max_grad_norm, draw,
                                    lambda target, eps: autoencoder_loss(model, target, eps, lc.kl_weight)[0])
        clock["elapsed"] += time.perf_counter() - start
        row = {"step": number, "stage": "autoencoder", "loss": round(loss_sum, 6),
               "lr": f"{lr_schedule.get_last_lr()[0]:.3e}", "val_loss": "", "elapsed_s": round(clock["elapsed"], 2)}
        if len(val) and (number % tc.val_every == 0 or number == total_steps):
            model.eval()
            row["val_loss"] = round(reconstruction_l1(net, val, tc.batch_size, device), 6)
            model.train()
        return row

    def save(number: int) -> None:
        save_checkpoint(run_dir, number, None, None,
                        {"optimizer": optimizer.state_dict(), "lr_scheduler": lr_schedule.state_dict()},
                        {"stage": "autoencoder", "autoencoder_steps": total_steps, "device": device.type,
                         "mixed_precision": accelerator.mixed_precision, "elapsed_s": round(clock["elapsed"], 3),
                         "train_cubes": len(train), "val_cubes": len(val)},
                        extra={"autoencoder": net.state_dict()})
        prune_checkpoints(run_dir, tc.keep_checkpoints)
        plot_log(run_dir, log.rows)

    model.train()
    log = open_log(run_dir, step, main)
    run_loop(accelerator, start=step, end=total_steps, step_fn=one_step, log=log, checkpoint_every=tc.checkpoint_every,
             save=save, desc="autoencoder", quiet=quiet)
    accelerator.wait_for_everyone()
    elapsed = clock["elapsed"]
    return net, elapsed
