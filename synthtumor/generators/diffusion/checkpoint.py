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

A checkpoint folder is written under a temporary name and renamed into place, then
``latest.json`` is replaced, so an interrupted run resumes from the last complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from synthtumor.errors import CaseFileError, ConfigError
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.io.case_io import write_json_atomic

__all__ = [
    "RUN_FORMAT", "write_run_config", "read_run_config", "latest_checkpoint", "save_checkpoint",
    "load_checkpoint_state", "load_weights", "prune_checkpoints", "checkpoint_state", "load_checkpoint_file",
]

RUN_FORMAT = "synthtumor-diffusion/1"
_LATEST = "latest.json"


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous().clone()
            for k, v in state.items()}


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
    path = Path(run_dir) / "checkpoints" / _LATEST
    if not path.is_file():
        return None
    folder = path.parent / json.loads(path.read_text())["path"]
    return folder if (folder / "state.json").is_file() else None


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module | None, ema_state: dict[str, torch.Tensor] | None,
                    optimizer_state: dict[str, Any], state: dict[str, Any], *,
                    extra: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """Write one checkpoint (see module docstring) and point ``latest.json`` at it.

    Args:
        run_dir: the run folder.
        step: the optimizer step (names the folder).
        model: the network whose ``state_dict`` becomes ``model.safetensors`` (None: no file).
        ema_state: the EMA weights for ``ema.safetensors`` (None: no file).
        optimizer_state: written to ``optimizer.pt``.
        state: written to ``state.json`` (with ``step``).
        extra: more weights, ``{"autoencoder": state_dict}`` -> ``autoencoder.safetensors``.
    """
    root = run_dir / "checkpoints"
    name = f"step_{step:07d}"
    tmp = root / f".{name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files = dict(extra or {})
    if model is not None:
        files["model"] = model.state_dict()
    if ema_state is not None:
        files["ema"] = ema_state
    for stem, weights in files.items():
        save_file(_tensors(weights), str(tmp / f"{stem}.safetensors"))
    torch.save(optimizer_state, tmp / "optimizer.pt")
    write_json_atomic({"step": step, **state}, tmp / "state.json")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_json_atomic({"step": step, "path": name}, root / _LATEST)
    return final


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (never the latest)."""
    latest = latest_checkpoint(run_dir)
    folders = sorted(p for p in (run_dir / "checkpoints").glob("step_*") if p.is_dir())
    for folder in folders[:-keep] if keep > 0 else []:
        if folder != latest:
            shutil.rmtree(folder, ignore_errors=True)


def checkpoint_state(folder: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder (``stage`` defaults to ``denoiser``)."""
    return {"stage": "denoiser", **json.loads((Path(folder) / "state.json").read_text())}


def load_checkpoint_file(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """The weights ``folder/<name>.safetensors`` (on the CPU).

    Raises:
        CaseFileError: the file is missing, or cut short or corrupt (safetensors cannot read it).
    """
    path = Path(folder) / f"{name}.safetensors"
    if not path.is_file():
        raise CaseFileError(f"checkpoint {folder} has no {path.name}.",
                            fix="resume training (train-diffusion --resume) so a complete checkpoint is written.")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError) on a damaged file
        raise CaseFileError(f"checkpoint file {path} is damaged or cut short ({' '.join(str(exc).split())}).",
                            fix="delete that checkpoint folder so the previous one is used, or train again.") from None


def load_checkpoint_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(model weights, EMA weights, optimizer/LR state, state.json) of a denoiser checkpoint folder."""
    optimizer = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    return load_checkpoint_file(folder, "model"), load_checkpoint_file(folder, "ema"), optimizer, checkpoint_state(folder)


def load_weights(run_dir: str | os.PathLike, *, ema: bool = True) -> tuple[dict[str, torch.Tensor], int]:
    """The (EMA) weights of a run's last checkpoint, on the CPU, and its step.

    Raises:
        CaseFileError: the run has no complete checkpoint.
    """
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise CaseFileError(f"{run_dir} holds no complete checkpoint.",
                            fix="train first (synthtumor train-diffusion ... --out RUN), or --resume an interrupted run.")
    state = checkpoint_state(folder)
    if state["stage"] != "denoiser":
        raise CaseFileError(f"{run_dir} has finished only the autoencoder stage (step {state['step']}); "
                            "there is no denoiser to sample with yet.",
                            fix="continue training: synthtumor train-diffusion --resume --out RUN --data DATASET.")
    return load_checkpoint_file(folder, "ema" if ema else "model"), int(state["step"])
