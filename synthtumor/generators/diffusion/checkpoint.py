"""Run folders of the diffusion generator: config, checkpoints, and how to read them back.

Layout of a run folder ``RUN``::

    RUN/config.json                 {"format", "config": the resolved preset, "data": summary}
    RUN/resolved_config.yaml        the same preset, for people
    RUN/log.csv, RUN/loss_curve.png training log and plot
    RUN/checkpoints/latest.json     {"step": 500, "path": "step_0000500"}
    RUN/checkpoints/step_0000500/   model.safetensors, ema.safetensors (EMA weights as a full
                                    state dict), optimizer.pt (optimizer and LR-schedule state,
                                    plain tensors: torch.load(weights_only=True) reads it),
                                    state.json (step, EMA counters, device, precision)

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
    "load_checkpoint_state", "load_weights", "prune_checkpoints",
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


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module, ema_state: dict[str, torch.Tensor],
                    optimizer_state: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write one checkpoint (see module docstring) and point ``latest.json`` at it."""
    root = run_dir / "checkpoints"
    name = f"step_{step:07d}"
    tmp = root / f".{name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(_tensors(model.state_dict()), str(tmp / "model.safetensors"))
    save_file(_tensors(ema_state), str(tmp / "ema.safetensors"))
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


def load_checkpoint_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(model weights, EMA weights, optimizer/LR state, state.json) of a checkpoint folder."""
    optimizer = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    state = json.loads((folder / "state.json").read_text())
    return load_file(str(folder / "model.safetensors")), load_file(str(folder / "ema.safetensors")), optimizer, state


def load_weights(run_dir: str | os.PathLike, *, ema: bool = True) -> tuple[dict[str, torch.Tensor], int]:
    """The (EMA) weights of a run's last checkpoint, on the CPU, and its step.

    Raises:
        CaseFileError: the run has no complete checkpoint.
    """
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise CaseFileError(f"{run_dir} holds no complete checkpoint.",
                            fix="train first (synthtumor train-diffusion ... --out RUN), or --resume an interrupted run.")
    step = int(json.loads((folder / "state.json").read_text())["step"])
    return load_file(str(folder / ("ema.safetensors" if ema else "model.safetensors"))), step
