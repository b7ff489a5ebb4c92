"""Network and noise-schedule construction for the diffusion lesion generator.

The denoiser is MONAI's ``DiffusionModelUNet`` on three inputs, concatenated along the channel
axis in this order: the noisy target cube, the context (the cube with the masked region set to
0, in the [-1, 1] scaled space) and the mask (1 where the lesion is generated). In latent mode
the first two are ``latent_channels``-channel latents of the autoencoder and the mask is taken
to the latent grid (see ``latent.py``). With ``conditioning``,
one class label per cube is the mixed-radix index of its conditions (:func:`class_index`):
size class (tiny / small / medium / large, from the equivalent radius), attenuation (hypo /
iso / hyper: mean lesion HU minus the parenchyma median below -10 HU, within +-10 HU, above
+10 HU) and contrast phase.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from monai.networks.nets import DiffusionModelUNet

from synthtumor.errors import ConfigError
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.lesions.spec import SIZE_CLASSES

__all__ = [
    "CONDITION_VALUES", "ATTENUATION_THRESHOLD_HU", "build_unet", "num_classes", "class_index",
    "size_class_of", "attenuation_of", "model_input", "train_scheduler", "sampling_scheduler",
]

#: Hypo below minus this, hyper above plus this (HU, lesion mean minus parenchyma median).
ATTENUATION_THRESHOLD_HU = 10.0
#: The values each condition takes, in label order.
CONDITION_VALUES: dict[str, tuple[str, ...]] = {
    "size_class": tuple(SIZE_CLASSES),
    "attenuation": ("hypo", "iso", "hyper"),
    "phase": ("native", "arterial", "portal", "delayed", "unknown"),
}
#: The schedule must bring the signal below this fraction of its variance at the last timestep.
_MAX_FINAL_SIGNAL = 0.02


def num_classes(conditioning: tuple[str, ...]) -> int | None:
    """Number of class embeddings for ``conditioning`` (None when there is none)."""
    if not conditioning:
        return None
    return int(np.prod([len(CONDITION_VALUES[c]) for c in conditioning]))


def size_class_of(radius_mm: float) -> str:
    """The size class whose radius is nearest ``radius_mm`` on a log scale."""
    return min(SIZE_CLASSES, key=lambda c: abs(math.log(max(radius_mm, 1e-3) / SIZE_CLASSES[c])))


def attenuation_of(contrast_hu: float) -> str:
    """``hypo``, ``iso`` or ``hyper`` for a lesion-minus-parenchyma contrast (HU)."""
    if contrast_hu < -ATTENUATION_THRESHOLD_HU:
        return "hypo"
    return "hyper" if contrast_hu > ATTENUATION_THRESHOLD_HU else "iso"


def class_index(conditioning: tuple[str, ...], **values: str) -> int:
    """The class label of one cube: the mixed-radix index of its condition values.

    Args:
        conditioning: the config's conditions, in order.
        **values: ``size_class=``, ``attenuation=``, ``phase=`` (extra ones are ignored).

    Raises:
        ConfigError: a needed value is missing or unknown.
    """
    index = 0
    for name in conditioning:
        options = CONDITION_VALUES[name]
        value = values.get(name)
        if value not in options:
            raise ConfigError(f"conditioning {name!r} needs one of {list(options)}, got {value!r}.")
        index = index * len(options) + options.index(value)
    return index


def build_unet(config: DiffusionConfig) -> DiffusionModelUNet:
    """The denoiser for ``config`` (3-D): ``2 C + 1`` input channels ([noisy, context, mask]) and
    ``C`` output channels, ``C = config.channels`` (1 in pixel mode, ``latent.latent_channels`` in
    latent mode)."""
    m = config.model
    c = config.channels
    return DiffusionModelUNet(
        spatial_dims=3,
        in_channels=2 * c + 1,
        out_channels=c,
        channels=m.channels,
        attention_levels=m.attention_levels,
        num_res_blocks=m.num_res_blocks,
        num_head_channels=m.num_head_channels,
        norm_num_groups=m.norm_num_groups,
        num_class_embeds=num_classes(m.conditioning),
    )


def model_input(noisy: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Concatenate ``[noisy, context, mask]`` along the channel axis: (B, C, N, N, N) twice and
    (B, 1, N, N, N) give (B, 2 C + 1, N, N, N)."""
    return torch.cat([noisy, context, mask], dim=1)


def train_scheduler(config: DiffusionConfig) -> DDPMScheduler:
    """The diffusers DDPM schedule of ``config.schedule``.

    Raises:
        ConfigError: the schedule leaves too much signal at its last timestep (the sampler
            starts from pure noise, so the model would never see what it starts from).
    """
    s = config.schedule
    scheduler = DDPMScheduler(
        num_train_timesteps=s.num_train_timesteps,
        beta_schedule=s.beta_schedule,
        beta_start=s.beta_start,
        beta_end=s.beta_end,
        prediction_type=s.prediction_type,
        clip_sample=config.mode == "pixel",  # cubes live in [-1, 1]; scaled latents do not
        clip_sample_range=1.0,
    )
    final = float(scheduler.alphas_cumprod[-1])
    if final > _MAX_FINAL_SIGNAL:
        raise ConfigError(
            f"schedule.beta_end: the {s.beta_schedule} schedule keeps {final:.3f} of the signal "
            f"variance after {s.num_train_timesteps} steps (at most {_MAX_FINAL_SIGNAL} is allowed).",
            fix="raise schedule.beta_end (e.g. 20 / num_train_timesteps) or use squaredcos_cap_v2.",
        )
    return scheduler


def sampling_scheduler(config: DiffusionConfig, steps: int | None = None) -> DDIMScheduler:
    """A DDIM scheduler configured from the training schedule, set to ``steps`` steps.

    Timesteps are spaced ``trailing`` so the first step starts at the last training timestep
    (pure noise), which RePaint-style inpainting assumes.
    """
    steps = config.sample.ddim_steps if steps is None else int(steps)
    if not 1 <= steps <= config.schedule.num_train_timesteps:
        raise ConfigError(f"sample.ddim_steps: {steps} is outside [1, {config.schedule.num_train_timesteps}].",
                          fix="use at most schedule.num_train_timesteps steps.")
    ddim = DDIMScheduler.from_config(train_scheduler(config).config, timestep_spacing="trailing",
                                     set_alpha_to_one=True)
    ddim.set_timesteps(steps)
    return ddim
