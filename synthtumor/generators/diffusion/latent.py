"""Latent mode: the frozen autoencoder between voxel cubes and the denoiser, and latent inpainting.

With ``f = latent.downsampling`` (``2^(levels - 1)``) an ``n``-cube (B, 1, n, n, n) in [-1, 1]
maps to a latent (B, C, n/f, n/f, n/f), ``C = latent.latent_channels``:

* ``encode(x) = s mu(x)``: the posterior mean of the ``AutoencoderKL`` encoder (no sampling, so
  encoding is deterministic) times the scale factor ``s = 1 / std(mu)`` estimated once, on the
  first denoiser batch (as latent diffusion does), so the latents have about unit variance;
* ``decode(z) = clip(D(z / s), -1, 1)``;
* the mask goes to the latent grid by max-pooling over ``f^3`` blocks: a latent voxel is
  generated when any voxel it stands for is.

The denoiser sees ``[noisy latent, context latent, latent mask]`` with the context latent the
encoding of the cube whose masked region is blanked (set to 0), as in pixel mode.

Sampling (:func:`inpaint_latent`) runs the RePaint-style DDIM loop of
:func:`~synthtumor.generators.diffusion.sample.inpaint` on the latent grid, restoring the
latent of the whole input cube outside the latent mask at every step; it decodes, then puts the
input back voxel for voxel outside the voxel mask, so the known voxels are *exactly* the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler
from monai.networks.nets import AutoencoderKL

from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.sample import inpaint

__all__ = ["build_autoencoder", "LatentCodec", "estimate_scale_factor", "inpaint_latent"]


def build_autoencoder(config: DiffusionConfig) -> AutoencoderKL:
    """The first stage of ``config`` (3-D, 1 channel in and out, ``latent.latent_channels`` latent).

    Raises:
        ConfigError: ``config`` has no ``latent`` section (via :meth:`DiffusionConfig.replace_latent`).
    """
    lc = config.latent
    if lc is None:
        config.replace_latent()  # raises the clear error
    return AutoencoderKL(
        spatial_dims=3,
        in_channels=1,
        out_channels=1,
        channels=lc.channels,
        attention_levels=lc.attention_levels,
        latent_channels=lc.latent_channels,
        num_res_blocks=lc.num_res_blocks,
        norm_num_groups=lc.norm_num_groups,
        with_encoder_nonlocal_attn=lc.nonlocal_attention,
        with_decoder_nonlocal_attn=lc.nonlocal_attention,
    )


@torch.no_grad()
def estimate_scale_factor(autoencoder: AutoencoderKL, cubes: torch.Tensor) -> float:
    """``1 / std(mu)`` over every latent value of ``cubes`` (B, 1, n, n, n) in [-1, 1] (1 when the
    latents are constant)."""
    mu, _ = autoencoder.encode(cubes)
    std = float(mu.float().std())
    return 1.0 / std if std > 1e-8 else 1.0


@dataclass(eq=False)
class LatentCodec:
    """A frozen autoencoder with its latent scale (see module docstring).

    Attributes:
        autoencoder: the trained ``AutoencoderKL`` (eval mode, no gradients).
        scale_factor: ``s``, multiplies the encoder's mean.
        downsampling: ``f``, voxels per latent voxel along each axis.
    """

    autoencoder: AutoencoderKL
    scale_factor: float
    downsampling: int

    @classmethod
    def frozen(cls, autoencoder: AutoencoderKL, scale_factor: float, config: DiffusionConfig) -> LatentCodec:
        """Put ``autoencoder`` in eval mode without gradients and wrap it."""
        autoencoder.eval().requires_grad_(False)
        return cls(autoencoder, float(scale_factor), config.latent.downsampling)

    @torch.no_grad()
    def encode(self, cubes: torch.Tensor) -> torch.Tensor:
        """(B, 1, n, n, n) in [-1, 1] -> scaled latents (B, C, n/f, n/f, n/f)."""
        mu, _ = self.autoencoder.encode(cubes)
        return mu * self.scale_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, C, m, m, m) -> cubes (B, 1, m f, m f, m f) clipped to [-1, 1]."""
        return self.autoencoder.decode(latents / self.scale_factor).float().clamp(-1.0, 1.0)

    def latent_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, n, n, n) mask -> (B, 1, n/f, n/f, n/f) float: 1 where any voxel of the block is masked."""
        return F.max_pool3d(mask.float(), kernel_size=self.downsampling, stride=self.downsampling)

    def denoiser_inputs(self, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(latent of target, latent of the blanked context, latent mask) for the training loss.

        Args:
            target: (B, 1, n, n, n) cubes in [-1, 1].
            mask: (B, 1, n, n, n) float, 1 where the lesion is generated.
        """
        return self.encode(target), self.encode(target * (1.0 - mask)), self.latent_mask(mask)


@torch.no_grad()
def inpaint_latent(model: torch.nn.Module, codec: LatentCodec, scheduler: DDIMScheduler, known: torch.Tensor,
                   mask: torch.Tensor, *, seeds: list[int], labels: torch.Tensor | None = None, eta: float = 0.0,
                   resample: int = 1) -> torch.Tensor:
    """Fill the masked region of each cube through the latent space; keep the rest exactly.

    Args:
        model: the latent denoiser, in eval mode.
        codec: the frozen autoencoder and its scale.
        scheduler: a DDIM scheduler already ``set_timesteps``.
        known: (B, 1, n, n, n) cubes in [-1, 1].
        mask: (B, 1, n, n, n), 1 (or True) where the lesion is generated.
        seeds: one seed per cube (the latent noise of cube ``i`` comes from ``seeds[i]`` alone).
        labels: (B,) class labels, or None without conditioning.
        eta: DDIM eta.
        resample: RePaint resampling count per timestep.

    Returns:
        (B, 1, n, n, n): inside the mask the decoded sample, outside it ``known`` bit for bit.
    """
    inside = mask.to(device=known.device) > 0.5
    blank = torch.where(inside, torch.zeros_like(known), known)
    latents = inpaint(model, scheduler, codec.encode(known), codec.latent_mask(inside), seeds=seeds, labels=labels,
                      eta=eta, resample=resample, context=codec.encode(blank), clip=False)
    return torch.where(inside, codec.decode(latents).to(known.dtype), known)
