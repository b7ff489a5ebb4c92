"""Run folders of the diffusion generator: config, checkpoints, and how to read them back.

Layout of a run folder ``RUN``::

    RUN/config.json                 {"format", "config": the resolved preset, "data": summary}
    RUN/resolved_config.yaml        the same preset, for people
    RUN/log.csv, RUN/loss_curve.png training log and plot
    RUN/checkpoints/latest.json     {"step": 500, "path": "step_0000500"}
    RUN/checkpoints/step_0000500/   model.safetensors, ema.safetensors (EMA weights as a full
                                    state dict), optimizer.pt (optimizer and LR-schedule state,
                                    plain tensors: torch.load(weights_only=True) reads it),
                                    state.json (step, stage, EMA counters, device, precision)

Latent mode numbers its steps on through both stages: steps ``1..A`` (``A =
latent.autoencoder_steps``) train the autoencoder, ``A+1..A+train.max_steps`` the denoiser.
``state.json`` records ``"stage"``: an ``autoencoder`` checkpoint holds ``autoencoder.safetensors``
and ``optimizer.pt`` only; a ``denoiser`` checkpoint holds the files above plus
``autoencoder.safetensors`` (the frozen first stage, so each checkpoint is complete on its own)
and records ``autoencoder_steps`` and the latent ``scale_factor``.

The checkpoint format is the one of every synthtumor training loop
(:mod:`synthtumor.training.checkpoints`): a folder written under a temporary name and renamed
into place, then ``latest.json`` replaced, so an interrupted run resumes from the last complete
checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from synthtumor.errors import CaseFileError, ConfigError
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.io.case_io import write_json_atomic
from synthtumor.training import checkpoints
from synthtumor.training.checkpoints import load_checkpoint_file, load_optimizer_state

__all__ = [
    "RUN_FORMAT", "write_run_config", "read_run_config", "latest_checkpoint", "save_checkpoint",
    "load_checkpoint_state", "load_weights", "prune_checkpoints", "checkpoint_state", "load_checkpoint_file",
]

RUN_FORMAT = "synthtumor-diffusion/1"


def write_run_config(run_dir: Path, config: DiffusionConfig, data: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` (and ``resolved_config.yaml``) into ``run_dir``."""
    import yaml

    from synthtumor.io.case_io import write_text_atomic

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    write_json_atomic({"format": RUN_FORMAT, "config": config.to_dict(), "data": data or {}}, path)
    write_text_atomic(yaml.safe_dump(config.to_dict(), sort_keys=False), run_dir / "resolved_config.yaml")
    return path


def read_run_config(run_dir: str | os.PathLike) -> tuple[DiffusionConfig, dict[str, Any]]:
    """The preset and data summary a run was trained with.

    Raises:
        CaseFileError: ``run_dir`` holds no readable ``config.json``.
        ConfigError: it is not a synthtumor diffusion run.
    """
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CaseFileError(f"{path} cannot be read ({exc}); it is not a diffusion training run.",
                            fix="pass the folder `synthtumor train-diffusion --out RUN` wrote.") from exc
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise ConfigError(f"{path} is not a synthtumor diffusion run (format {data.get('format')!r}).",
                          fix=f"pass a run folder written by train-diffusion ({RUN_FORMAT}).")
    return DiffusionConfig.from_dict(data["config"]), data.get("data", {})


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The folder of the run's last complete checkpoint, or None."""
    return checkpoints.latest_checkpoint(Path(run_dir) / "checkpoints")


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module | None, ema_state: dict[str, torch.Tensor] | None,
                    optimizer_state: dict[str, Any], state: dict[str, Any], *,
                    extra: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """Write one checkpoint of a diffusion run (see module docstring) in the format of
    :mod:`synthtumor.training.checkpoints`.

    Args:
        run_dir: the run folder.
        step: the optimizer step (names the folder).
        model: the network whose ``state_dict`` becomes ``model.safetensors`` (None: no file).
        ema_state: the EMA weights for ``ema.safetensors`` (None: no file).
        optimizer_state: written to ``optimizer.pt``.
        state: written to ``state.json`` (with ``step``).
        extra: more weights, ``{"autoencoder": state_dict}`` -> ``autoencoder.safetensors``.
    """
    weights = dict(extra or {})
    if model is not None:
        weights["model"] = model.state_dict()
    if ema_state is not None:
        weights["ema"] = ema_state
    return checkpoints.save_checkpoint(Path(run_dir) / "checkpoints", step, weights, optimizer_state, state)


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (never the latest)."""
    checkpoints.prune_checkpoints(Path(run_dir) / "checkpoints", keep)


def checkpoint_state(folder: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder (``stage`` defaults to ``denoiser``)."""
    return {"stage": "denoiser", **checkpoints.checkpoint_state(folder)}


def load_checkpoint_state(
    folder: Path,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(model weights, EMA weights, optimizer/LR state, state.json) of a denoiser checkpoint folder."""
    optimizer = load_optimizer_state(folder)
    model, ema = load_checkpoint_file(folder, "model"), load_checkpoint_file(folder, "ema")
    return model, ema, optimizer, checkpoint_state(folder)


def load_weights(run_dir: str | os.PathLike, *, ema: bool = True) -> tuple[dict[str, torch.Tensor], int]:
    """The (EMA) weights of a run's last checkpoint, on the CPU, and its step.

    Raises:
        CaseFileError: the run has no complete checkpoint.
    """
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise CaseFileError(f"{run_dir} holds no complete checkpoint.",
                            fix="train first (synthtumor train-diffusion ... --out RUN), "
                            "or --resume an interrupted run.")
    state = checkpoint_state(folder)
    if state["stage"] != "denoiser":
        raise CaseFileError(f"{run_dir} has finished only the autoencoder stage (step {state['step']}); "
                            "there is no denoiser to sample with yet.",
                            fix="continue training: synthtumor train-diffusion --resume --out RUN --data DATASET.")
    return load_checkpoint_file(folder, "ema" if ema else "model"), int(state["step"])
