"""DDIM inpainting that keeps the context exactly (RePaint-style), batched over lesions.

For cubes ``x_0`` (known outside the mask ``m``) the loop runs the DDIM timesteps
``t_1 > ... > t_K`` (``trailing`` spacing, so ``t_1 = T - 1``) from ``x ~ N(0, I)``:

1. known voxels are replaced by the forward-noised known cube at ``t``:
   ``x <- m x + (1 - m) (sqrt(abar_t) x_0 + sqrt(1 - abar_t) z)``, ``z ~ N(0, I)``;
2. ``x <- DDIM_step(f(x, context, m, t), t, x)`` (diffusers ``DDIMScheduler.step``, called
   directly, with ``eta`` and its variance noise drawn per lesion);
3. with ``resample = r > 1`` (RePaint's jumps of length 1), steps 1-2 run ``r`` times per
   timestep, re-noising ``x_{t'}`` back to ``t`` in between:
   ``x_t = sqrt(abar_t / abar_t') x_t' + sqrt(1 - abar_t / abar_t') z``.

At the end ``x <- where(m, clip(x, -1, 1), x_0)``: outside the mask the output *is* the input.
Every random draw of lesion ``i`` comes from its own ``torch.Generator`` seeded with
``seeds[i]`` (on the CPU, then moved), so a lesion's sample does not depend on the batch it
is in or on the device's random state.
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler

from synthtumor.generators.diffusion.model import model_input

__all__ = ["inpaint"]


class _Noise:
    """Standard normal draws, one generator per lesion, stacked into a batch."""

    def __init__(self, seeds: list[int], shape: tuple[int, ...], device: torch.device) -> None:
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.shape = shape
        self.device = device

    def __call__(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.generators]).to(self.device)


@torch.no_grad()
def inpaint(model: torch.nn.Module, scheduler: DDIMScheduler, known: torch.Tensor, mask: torch.Tensor, *,
            seeds: list[int], labels: torch.Tensor | None = None, eta: float = 0.0, resample: int = 1,
            context: torch.Tensor | None = None, clip: bool = True) -> torch.Tensor:
    """Fill the masked region of each cube; keep the rest exactly.

    Args:
        model: the denoiser (``[noisy, context, mask]`` in, epsilon or v out), in eval mode.
        scheduler: a DDIM scheduler already ``set_timesteps`` (see ``model.sampling_scheduler``).
        known: (B, C, n, n, n) cubes in [-1, 1] (C = 1) or scaled latents; what is restored
            outside the mask. Values inside the mask are ignored.
        mask: (B, 1, n, n, n), 1 (or True) where the lesion is generated.
        seeds: one seed per cube.
        labels: (B,) class labels, or None without conditioning.
        eta: DDIM eta (0: deterministic given the initial noise).
        resample: RePaint resampling count per timestep (1: none).
        context: (B, C, n, n, n), the network's context input; default ``known`` with the masked
            region set to 0 (pixel mode). Latent mode passes the latent of the blanked cube.
        clip: clamp the sample to [-1, 1] at the end (pixel mode; not for latents).

    Returns:
        (B, C, n, n, n) on ``known``'s device: inside the mask the sample, outside ``known``.
    """
    if len(seeds) != known.shape[0]:
        raise ValueError(f"inpaint needs one seed per cube: {len(seeds)} seeds for {known.shape[0]} cubes.")
    device = known.device
    inside = mask.to(device=device) > 0.5
    m = inside.to(known.dtype)
    if context is None:
        known = torch.where(inside, torch.zeros_like(known), known)
        context = known
    context = context.to(device=device, dtype=known.dtype)
    draw = _Noise(seeds, tuple(known.shape[1:]), device)
    abar = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    stride = scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    x = draw()
    for t in scheduler.timesteps:
        t_int = int(t)
        prev = t_int - stride
        a_t = abar[t_int]
        batch_t = torch.full((known.shape[0],), t_int, device=device, dtype=torch.long)
        for r in range(resample):
            noisy_known = a_t.sqrt() * known + (1.0 - a_t).sqrt() * draw()
            x = torch.where(inside, x, noisy_known)
            out = model(model_input(x, context, m), timesteps=batch_t, class_labels=labels).float()
            variance = draw() if eta > 0 else None
            x_prev = scheduler.step(out, t_int, x, eta=eta, variance_noise=variance).prev_sample
            if r + 1 < resample and prev >= 0:
                ratio = a_t / abar[prev]
                x = ratio.sqrt() * x_prev + (1.0 - ratio).sqrt() * draw()
            else:
                x = x_prev
    return torch.where(inside, x.clamp(-1.0, 1.0) if clip else x, known)
