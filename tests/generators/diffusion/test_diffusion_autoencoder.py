"""Latent mode's first stage: the AutoencoderKL loss falls on a fixed batch; the KL term is right."""

from __future__ import annotations

import torch

from synthtumor.generators.diffusion.autoencoder import autoencoder_loss, kl_divergence
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.latent import (
    LatentCodec,
    build_autoencoder,
    estimate_scale_factor,
)

torch.set_num_threads(1)

TOY = DiffusionConfig.from_preset(
    "tiny_latent_cpu", data={"cube_voxels": 8},
    latent={"channels": [8, 16], "attention_levels": [False, False], "latent_channels": 2, "norm_num_groups": 4},
    model={"channels": [8, 16], "attention_levels": [False, False], "num_head_channels": 8, "norm_num_groups": 4})


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    mu, sigma = torch.zeros(2, 3, 4, 4, 4), torch.ones(2, 3, 4, 4, 4)
    assert float(kl_divergence(mu, sigma)) == 0.0
    # per cube: 0.5 * (1 + 1 - 0 - 1) * 192 values = 96, and 0.5 * (0.25 - log 0.25 - 1) * 192
    assert abs(float(kl_divergence(mu + 1.0, sigma)) - 96.0) < 1e-4
    expected = 0.5 * (0.25 - torch.log(torch.tensor(0.25)) - 1.0) * 192
    assert abs(float(kl_divergence(mu, sigma * 0.5)) - float(expected)) < 1e-3


def test_a_few_steps_lower_the_reconstruction_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    autoencoder = build_autoencoder(TOY)
    gen = torch.Generator().manual_seed(0)
    cubes = torch.tanh(torch.randn(4, 1, 8, 8, 8, generator=gen))
    eps = torch.randn(4, 2, 4, 4, 4, generator=gen)
    optimizer = torch.optim.AdamW(autoencoder.parameters(), lr=3e-3)
    before, before_l1 = (float(v.detach()) for v in autoencoder_loss(autoencoder, cubes, eps, 1e-6))
    for _ in range(15):
        optimizer.zero_grad()
        loss, _ = autoencoder_loss(autoencoder, cubes, eps, 1e-6)
        loss.backward()
        optimizer.step()
    after, after_l1 = (float(v.detach()) for v in autoencoder_loss(autoencoder, cubes, eps, 1e-6))
    assert after < 0.8 * before and after_l1 < 0.8 * before_l1


def test_codec_shapes_scale_and_mask_on_the_latent_grid():
    torch.manual_seed(0)
    autoencoder = build_autoencoder(TOY)
    cubes = torch.rand(3, 1, 8, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    scale = estimate_scale_factor(autoencoder, cubes)
    codec = LatentCodec.frozen(autoencoder, scale, TOY)
    assert not any(p.requires_grad for p in autoencoder.parameters())
    z = codec.encode(cubes)
    assert z.shape == (3, 2, 4, 4, 4) and abs(float(z.std()) - 1.0) < 1e-3  # unit std on its own batch
    assert codec.decode(z).shape == cubes.shape and float(codec.decode(z).abs().max()) <= 1.0
    mask = torch.zeros(3, 1, 8, 8, 8)
    mask[:, :, 3, 3, 3] = 1  # one voxel marks its whole 2^3 block
    small = codec.latent_mask(mask)
    assert small.shape == (3, 1, 4, 4, 4) and small.sum() == 3 and bool(small[:, :, 1, 1, 1].all())
