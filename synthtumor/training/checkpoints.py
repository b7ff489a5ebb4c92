"""One checkpoint format for every training loop (segmentation, diffusion, autoencoder).

Layout under a run's ``checkpoints/`` folder::

    checkpoints/latest.json            {"step": 500, "path": "step_0000500"}
    checkpoints/step_0000500/
        <name>.safetensors             one file per set of weights (``model``, ``ema``,
                                       ``autoencoder``...), float tensors as float32 on the CPU
        optimizer.pt                   optimiser and LR-schedule state: plain tensors and numbers,
                                       read back with ``torch.load(weights_only=True)``
        state.json                     {"step": 500, ...}: what the loop needs to resume

A checkpoint folder is written under a hidden temporary name and renamed into place, then
``latest.json`` is replaced, so an interrupted run resumes from the last complete checkpoint.
Only the main process may call :func:`save_checkpoint` (the loop in
:mod:`synthtumor.training.loop` sees to it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from synthtumor.errors import CaseFileError
from synthtumor.io.case_io import write_json_atomic
from synthtumor.io.workdir import share_like_umask

__all__ = ["save_checkpoint", "latest_checkpoint", "prune_checkpoints", "checkpoint_state", "load_checkpoint_file",
           "load_optimizer_state", "LATEST"]

LATEST = "latest.json"


def _tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU copies (float tensors as float32), contiguous and unshared, as safetensors requires."""
    return {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous().clone()
            for k, v in state.items()}


def save_checkpoint(root: Path, step: int, weights: Mapping[str, Mapping[str, torch.Tensor]],
                    optimizer_state: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write one checkpoint folder under ``root`` and point ``latest.json`` at it.

    Args:
        root: the run's ``checkpoints`` folder (created).
        step: the optimiser step (names the folder).
        weights: ``{"model": state_dict, ...}`` -> ``model.safetensors``, ...
        optimizer_state: written to ``optimizer.pt``.
        state: written to ``state.json``, with ``step``.

    Returns:
        The checkpoint folder.
    """
    name = f"step_{step:07d}"
    tmp = root / f".{name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for stem, tensors in weights.items():
        save_file(_tensors(tensors), str(tmp / f"{stem}.safetensors"))
        share_like_umask(tmp / f"{stem}.safetensors")  # safetensors writes 0600
    torch.save(optimizer_state, tmp / "optimizer.pt")
    write_json_atomic({"step": step, **state}, tmp / "state.json")
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_json_atomic({"step": step, "path": name}, root / LATEST)
    return final


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The last complete checkpoint folder under ``root`` (a ``checkpoints`` folder), or None."""
    path = Path(root) / LATEST
    if not path.is_file():
        return None
    try:
        folder = path.parent / json.loads(path.read_text())["path"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CaseFileError(f"{path} is damaged ({exc}).",
                            fix="delete it; the run then resumes from scratch, "
                            "or point it at a step_* folder.") from None
    return folder if (folder / "state.json").is_file() else None


def prune_checkpoints(root: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints under ``root`` (never the latest)."""
    latest = latest_checkpoint(root)
    folders = sorted(p for p in root.glob("step_*") if p.is_dir())
    for folder in folders[:-keep] if keep > 0 else []:
        if folder != latest:
            shutil.rmtree(folder, ignore_errors=True)


def checkpoint_state(folder: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint folder."""
    return json.loads((Path(folder) / "state.json").read_text())


def load_checkpoint_file(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """The weights ``folder/<name>.safetensors`` (on the CPU).

    Raises:
        CaseFileError: the file is missing, or cut short or corrupt (safetensors cannot read it).
    """
    path = Path(folder) / f"{name}.safetensors"
    if not path.is_file():
        raise CaseFileError(f"checkpoint {folder} has no {path.name}.",
                            fix="resume training (--resume) so that a complete checkpoint is written.")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError) on a damaged file
        raise CaseFileError(f"checkpoint file {path} is damaged or cut short ({' '.join(str(exc).split())}).",
                            fix="delete that checkpoint folder so the previous one is used, or train again.") from None


def load_optimizer_state(folder: Path) -> dict[str, Any]:
    """``optimizer.pt`` of a checkpoint folder (plain tensors only: ``weights_only=True``).

    Raises:
        CaseFileError: the file is missing or damaged.
    """
    path = Path(folder) / "optimizer.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # missing, truncated or not a torch file: one message for all
        raise CaseFileError(f"checkpoint file {path} cannot be read ({' '.join(str(exc).split())[:160]}).",
                            fix="delete that checkpoint folder so the previous one is used, or train again.") from None
