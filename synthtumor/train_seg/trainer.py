"""Train one segmentation model with accelerate (CPU fallback, bf16 on GPU, multi-GPU launch).

A run folder holds, per stage (``model/`` end to end; ``organ/`` and ``tumour/`` cascaded):
``model.safetensors`` (final weights), ``model.json`` (config, stage, classes, label map),
``checkpoints/`` (the last checkpoint, every ``checkpoint_every`` steps, in the format of
:mod:`synthtumor.training.checkpoints`), ``log.csv`` (step, loss, learning rate, seconds) and the
run's ``resolved_config.yaml``. ``resume=True`` continues from the checkpoint; a finished stage is
skipped. The loop is :func:`synthtumor.training.loop.run_loop`: only the main process writes,
so ``accelerate launch`` on several GPUs never races on a file. Any ``torch.load`` uses
``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from safetensors.torch import load_model, save_model
from torch.utils.data import Subset

from synthtumor.case import Phase
from synthtumor.errors import ConfigError, raise_user_error_in
from synthtumor.generators.base import LesionGenerator
from synthtumor.io.labelmap import LabelMap
from synthtumor.io.workdir import share_like_umask
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import stage_classes, train_transform
from synthtumor.train_seg.networks import build_network, deep_supervision_weights
from synthtumor.training.checkpoints import (
    checkpoint_state,
    latest_checkpoint,
    load_checkpoint_file,
    load_optimizer_state,
    prune_checkpoints,
    save_checkpoint,
)
from synthtumor.training.loop import RunLog, run_loop

__all__ = ["train_stage", "make_accelerator", "STAGE_FOLDERS"]

#: Columns of a stage's log.csv.
LOG_FIELDS = ("step", "loss", "lr", "seconds")
#: A stage's checkpoints folder (format: :mod:`synthtumor.training.checkpoints`).
CHECKPOINTS = "checkpoints"

#: Stage folders of a run, per strategy.
STAGE_FOLDERS = {"end_to_end": {"all": "model"}, "cascaded": {"organ": "organ", "tumour": "tumour"}}


def make_accelerator(config: TrainConfig) -> Accelerator:
    """bf16 where a GPU is present and the config asks for it; fp32 on the CPU."""
    gpu = torch.cuda.is_available()
    precision = "bf16" if (gpu and config.mixed_precision == "bf16") else "no"
    return Accelerator(mixed_precision=precision, cpu=not gpu)


def _loss(outputs: torch.Tensor, label: torch.Tensor, loss_fn: DiceCELoss) -> torch.Tensor:
    if outputs.dim() == label.dim() + 1:  # DynUNet deep supervision: (B, heads, C, X, Y[, Z])
        heads = torch.unbind(outputs, dim=1)
        return sum(w * loss_fn(h, label) for w, h in zip(deep_supervision_weights(len(heads)), heads))
    return loss_fn(outputs, label)


def _endless(loader, timings: dict[str, float] | None = None):
    """The loader's batches, epoch after epoch, with an error a transform raised on bad input
    shown as itself; the seconds spent waiting for each batch are added to
    ``timings["data_wait_s"]``."""
    while True:
        iterator = iter(loader)
        while True:
            start = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except RuntimeError as exc:
                raise_user_error_in(exc)
            if timings is not None:
                timings["data_wait_s"] = timings.get("data_wait_s", 0.0) + time.perf_counter() - start
            yield batch


def _resume_state(folder: Path, model: torch.nn.Module, optimiser, scheduler) -> int:
    """Load the stage's last checkpoint into the model, optimiser and schedule; return its step
    (0 where there is none). Reads the one-folder ``checkpoint/`` of runs before 0.3 too."""
    latest = latest_checkpoint(folder / CHECKPOINTS)
    if latest is not None:
        model.load_state_dict(load_checkpoint_file(latest, "model"))
        state = load_optimizer_state(latest)
        step = int(checkpoint_state(latest)["step"])
    elif (folder / "checkpoint" / "step.json").is_file():
        legacy = folder / "checkpoint"
        load_model(model, str(legacy / "weights.safetensors"))
        state = torch.load(legacy / "state.pt", map_location="cpu", weights_only=True)
        step = int(json.loads((legacy / "step.json").read_text())["step"])
    else:
        return 0
    optimiser.load_state_dict(state["optimiser"])
    scheduler.load_state_dict(state["scheduler"])
    return step


def train_stage(
    config: TrainConfig,
    items: list[dict[str, Any]],
    out: str | os.PathLike,
    *,
    stage: str = "all",
    label_map: LabelMap | None = None,
    generator: LesionGenerator | None = None,
    synthesis_prob: float = 1.0,
    phase: Phase | str = Phase.UNKNOWN,
    resume: bool = False,
    quiet: bool = False,
    timings: dict[str, float] | None = None,
) -> Path:
    """Train one stage's network on ``items`` and return its folder.

    Args:
        config: the training configuration.
        items: ``[{"image", "label", "case_id"}]`` training cases.
        out: the stage folder (created).
        stage: ``all``, ``organ`` or ``tumour``.
        label_map: roles of the label values.
        generator: on-the-fly lesion synthesis (synthetic arms), or None.
        synthesis_prob: probability of synthetic lesions per sample.
        phase: contrast phase of the scans.
        resume: continue from the stage's checkpoint (a finished stage is kept as it is).
        quiet: no progress bar.
        timings: filled with ``data_wait_s`` (seconds spent waiting for batches) and
            ``loop_s`` (seconds in the training loop), e.g. for the data-wait fraction.

    Raises:
        ConfigError: no training case, or an existing stage folder without ``resume``.
    """
    folder = Path(out)
    if not items or any("label" not in item for item in items):
        raise ConfigError("training needs at least one case, each with a label file.", fix="check --train.")
    if (folder / "model.safetensors").is_file():
        if resume:
            return folder
        raise ConfigError(f"{folder} already holds a trained model.", fix="use --resume, or another --out.")
    folder.mkdir(parents=True, exist_ok=True)
    accelerator = make_accelerator(config)
    torch.manual_seed(config.seed)
    # a separate vessel mask matters only where lesions are drawn, and only if every case has one
    vessels_key = "vessels" if generator is not None and all(item.get("vessels") for item in items) else None
    items = [{k: v for k, v in item.items() if k != "vessels" or vessels_key} for item in items]
    transform = train_transform(config, stage=stage, label_map=label_map, generator=generator,
                                synthesis_prob=synthesis_prob, phase=phase, vessels_key=vessels_key)
    # the random transforms never write into the cached volumes (they cut and copy blocks), so
    # the cache is handed over as it is instead of deep-copying whole volumes for every sample
    try:
        dataset = CacheDataset(items, transform, progress=False, num_workers=0, copy_cache=False)
    except RuntimeError as exc:
        raise_user_error_in(exc)
    # an epoch draws every case equally often and fills at least one whole batch, so a step sees
    # batch_size samples even when there are fewer training cases than that (1, 2, 4 real scans)
    repeats = -(-config.batch_size // len(items))
    dataset = Subset(dataset, [i for _ in range(repeats) for i in range(len(items))])
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, num_workers=config.num_workers,
                        generator=torch.Generator().manual_seed(config.seed), drop_last=True)
    model = build_network(config, stage_classes(stage))
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.iterations)
    step = _resume_state(folder, model, optimiser, scheduler) if resume else 0
    model, optimiser, loader, scheduler = accelerator.prepare(model, optimiser, loader, scheduler)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    main = accelerator.is_main_process
    log = RunLog(folder / "log.csv", LOG_FIELDS, up_to=step, enabled=main)
    batches = _endless(loader, timings)
    start = time.perf_counter()

    def one_step(number: int) -> dict[str, Any]:
        batch = next(batches)
        optimiser.zero_grad()
        loss = _loss(model(batch["image"]), batch["label"], loss_fn)
        if bool(torch.isfinite(loss)):  # a non-finite loss is reported by the loop, before any update
            accelerator.backward(loss)
            optimiser.step()
            scheduler.step()
        return {"step": number, "loss": f"{loss.item():.5f}", "lr": f"{scheduler.get_last_lr()[0]:.3g}",
                "seconds": f"{time.perf_counter() - start:.3f}"}

    def save(number: int) -> None:
        save_checkpoint(folder / CHECKPOINTS, number, {"model": accelerator.unwrap_model(model).state_dict()},
                        {"optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict()}, {"stage": stage})
        prune_checkpoints(folder / CHECKPOINTS, keep=1)

    model.train()
    step = run_loop(accelerator, start=step, end=config.iterations, step_fn=one_step, log=log,
                    checkpoint_every=config.checkpoint_every, save=save, desc=f"train {stage}", quiet=quiet,
                    nan_fix=f"check the scans for extreme intensities, or lower train.lr (now {config.lr:g}).")
    if timings is not None:
        timings["loop_s"] = timings.get("loop_s", 0.0) + time.perf_counter() - start
    if not main:
        return folder
    meta = {"config": config.to_dict(), "stage": stage, "classes": stage_classes(stage),
            "label_map": label_map.to_dict() if label_map is not None else None, "steps": step,
            "vessel_masks": vessels_key is not None}
    (folder / "model.json").write_text(json.dumps(meta, indent=2))
    tmp = folder / ".model.safetensors.tmp"
    # save_model stores tensors that modules share (DynUNet's skip layers alias its blocks) once
    save_model(accelerator.unwrap_model(model), str(tmp))
    share_like_umask(tmp)  # safetensors writes 0600: colleagues could not load the model
    os.replace(tmp, folder / "model.safetensors")
    return folder
