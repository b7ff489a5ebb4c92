"""Diffusion lesion generator: heuristic placement and shape, a learned denoiser inside.

Modules, one concern each: ``config`` (presets in ``configs/diffusion/``; ``sections`` holds
their validated parts), ``data`` (training cubes), ``model`` (network, schedules, class labels),
``train`` (the accelerate training loop; ``batches`` its draws, ``runlog`` its log),
``autoencoder`` (latent mode's first stage), ``latent`` (latent codec and latent inpainting),
``checkpoint`` (run folders), ``sample`` (DDIM inpainting) and ``generator``
(:class:`DiffusionGenerator`). Names below import lazily, so
reading a config does not load torch, MONAI or diffusers.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DiffusionConfig", "DiffusionGenerator", "LesionCubes", "NoLesionsError", "build_training_cubes",
    "inpaint", "list_diffusion_presets", "load_diffusion_config", "train_diffusion",
]

_WHERE = {
    "DiffusionConfig": "config", "list_diffusion_presets": "config", "load_diffusion_config": "config",
    "DiffusionGenerator": "generator", "LesionCubes": "data", "NoLesionsError": "data",
    "build_training_cubes": "data", "inpaint": "sample", "train_diffusion": "train",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
