"""Training batches and seeds of the diffusion generator, shared by both training stages.

Every draw comes from a generator seeded by integers (``train.seed``, step, micro-batch, rank),
never from a global RNG, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from synthtumor.generators.diffusion.data import LesionCubes

__all__ = ["seed_of", "seeded_init", "training_batch", "noise_and_timesteps", "optimizer_step", "accumulated_step"]


def seed_of(*parts: int) -> int:
    """A 63-bit seed derived from integers (never from a global RNG)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Run the block (a network's construction) with torch's CPU RNG seeded by ``seed``, and give
    the global RNG back untouched afterwards: initial weights then depend on the config's seed only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def training_batch(cubes: LesionCubes, size: int, rng: np.random.Generator, flip: bool) -> tuple[torch.Tensor, ...]:
    """(target (B, 1, n, n, n) in [-1, 1], mask (B, 1, n, n, n) float, labels (B,)) of ``size``
    cubes drawn uniformly with replacement, each flipped along every axis with probability 1/2
    when ``flip``."""
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


def noise_and_timesteps(shape: tuple[int, ...], steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``eps ~ N(0, I)`` of ``shape`` and ``t ~ U{0..steps-1}`` (one per item), from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen), torch.randint(0, steps, (shape[0],), generator=gen)


def optimizer_step(accelerator, model: torch.nn.Module, loss: torch.Tensor, optimizer, lr_schedule,
                   max_grad_norm: float) -> None:
    """Backward, clip (where gradients sync and ``max_grad_norm > 0``), step optimizer and schedule,
    zero the gradients: one micro-batch inside ``accelerator.accumulate(model)``."""
    accelerator.backward(loss)
    if accelerator.sync_gradients and max_grad_norm > 0:
        accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    lr_schedule.step()
    optimizer.zero_grad(set_to_none=True)


def accumulated_step(accelerator, model: torch.nn.Module, optimizer, lr_schedule, micro_batches: int,
                     max_grad_norm: float, draw: Callable[[int], tuple], loss_of: Callable[..., torch.Tensor]) -> float:
    """One optimizer step over ``micro_batches`` micro-batches: ``draw(micro)`` makes a
    micro-batch's inputs (outside autocast), ``loss_of(*inputs)`` its loss (under autocast);
    return the step's mean loss. Both training stages take their steps through here."""
    total = 0.0
    for micro in range(micro_batches):
        inputs = draw(micro)
        with accelerator.accumulate(model):
            with accelerator.autocast():
                loss = loss_of(*inputs)
            optimizer_step(accelerator, model, loss, optimizer, lr_schedule, max_grad_norm)
        total += float(loss.detach()) / micro_batches
    return total
