"""``synthtumor train-diffusion``: train the diffusion lesion generator on annotated scans.

Reads any dataset :func:`synthtumor.io.load_dataset` reads, cuts a cube around every tumour
(:mod:`synthtumor.generators.diffusion.data`), splits them by scan into training and validation,
and trains (:mod:`synthtumor.generators.diffusion.train`). The run folder ``out`` receives
``config.json`` and ``resolved_config.yaml`` (the preset as used), ``split.json`` (which scans
went where), the cubes (``cubes_train.npz``, ``cubes_val.npz``, reused by ``--resume``),
checkpoints, ``log.csv`` and ``loss_curve.png``. Use it with
``DiffusionGenerator.from_checkpoint(out)`` or ``synthtumor generate --generator diffusion
--checkpoint out``.

``--max-steps N`` overrides ``train.max_steps`` (denoiser steps). In latent mode it caps both
stages: the autoencoder trains ``min(latent.autoencoder_steps, N)`` steps, then the denoiser
``N`` steps (``2 N`` steps in all at most), so ``--max-steps 3`` is a quick end-to-end smoke run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from synthtumor.errors import ConfigError
from synthtumor.generators.diffusion.checkpoint import latest_checkpoint, read_run_config
from synthtumor.generators.diffusion.config import DiffusionConfig, load_diffusion_config
from synthtumor.generators.diffusion.data import LesionCubes, build_training_cubes
from synthtumor.generators.diffusion.train import train_diffusion
from synthtumor.io.case_io import write_json_atomic
from synthtumor.io.layouts import load_dataset
from synthtumor.io.output_guard import check_output_apart, check_output_free

__all__ = ["run_train_diffusion"]


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
            if found:
                return found
        return None
    return None if a == b else prefix


def _with_max_steps(config: DiffusionConfig, max_steps: int) -> DiffusionConfig:
    """``train.max_steps = max_steps``; in latent mode also ``latent.autoencoder_steps`` capped at it."""
    config = config.replace_train(max_steps=max_steps)
    if config.mode == "latent":
        config = config.replace_latent(autoencoder_steps=min(config.latent.autoencoder_steps, max_steps))
    return config


def _comparable(config: DiffusionConfig) -> dict[str, Any]:
    """The config as a dict with the step counts a resume may change set to 1."""
    if config.mode == "latent" and config.latent is not None:
        config = config.replace_latent(autoencoder_steps=1)
    return config.replace_train(max_steps=1).to_dict()


def _resolve(out: Path, config: DiffusionConfig | str | os.PathLike | None, max_steps: int | None,
             resume: bool) -> DiffusionConfig:
    has_run = (out / "config.json").is_file() and latest_checkpoint(out) is not None
    if has_run and not resume:
        raise ConfigError(f"{out} already holds a diffusion training run.",
                          fix="pass --resume to continue it, or choose another --out folder.")
    if resume and has_run:
        saved, _ = read_run_config(out)
        if config is not None:
            given = load_diffusion_config(config)
            key = _first_difference(_comparable(saved), _comparable(given))
            if key is not None:
                raise ConfigError(f"--resume: the config differs from the run's at {key!r}.",
                                  fix=f"resume with the run's own config ({out / 'resolved_config.yaml'}), "
                                  "or start a new run in another folder.")
        base = saved
    elif resume and config is None:
        raise ConfigError(f"--resume: {out} holds no diffusion training run to continue.",
                          fix="start the run without --resume (and with --config), or pass the run's folder.")
    elif config is None:
        raise ConfigError("no diffusion config given.", fix="pass --config tiny_cpu (or gpu_64, or a YAML path).")
    else:
        base = load_diffusion_config(config)
    return _with_max_steps(base, max_steps) if max_steps is not None else base


def _owns(out: Path) -> bool:
    """A diffusion run folder (its config, or the cubes and split written before training starts)."""
    return any((out / name).is_file() for name in ("config.json", "cubes_train.npz", "split.json"))


def run_train_diffusion(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: DiffusionConfig | str | os.PathLike | None,
    label_map: str | None = None,
    phase: str | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    quiet: bool = False,
    overwrite: bool = False,
) -> Path:
    """Train the diffusion lesion generator; return the run folder.

    Args:
        data: a dataset folder (cases, Decathlon, nnU-Net or LiTS layout) with tumour labels.
        out: the run folder (created).
        config: a preset name in ``configs/diffusion/`` (``tiny_cpu``, ``gpu_64``), a YAML path or a
            DiffusionConfig; with ``resume`` it may be None (the run's own) and must otherwise match
            the run's (``train.max_steps`` and ``latent.autoencoder_steps`` aside).
        label_map: label-map YAML or preset name for the dataset's label values.
        phase: contrast phase of every scan (a conditioning value).
        max_steps: denoiser optimizer steps, overriding ``train.max_steps``; in latent mode also the
            cap of the autoencoder's steps (see module docstring).
        resume: continue from the run's last checkpoint.
        quiet: no progress bars.
        overwrite: start a run in a non-empty folder that holds no diffusion run (files of the same
            names are replaced; nothing is deleted).

    Raises:
        ConfigError: a bad config or option, an ``out`` that already
            holds a run without ``resume``, or ``out`` inside ``data``.
        NoLesionsError: the dataset holds no tumour (names the dataset and the fix).
        SynthTumorError: a case cannot be read.
    """
    data, out = Path(data), Path(out)
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps must be at least 1, got {max_steps}.")
    check_output_apart(out, {"dataset": data})
    check_output_free(out, "train-diffusion", _owns, overwrite=overwrite)
    cfg = _resolve(out, config, max_steps, resume)
    train_path, val_path = out / "cubes_train.npz", out / "cubes_val.npz"
    if resume and train_path.is_file() and val_path.is_file():
        train, val = LesionCubes.load(train_path), LesionCubes.load(val_path)
    else:
        dataset = load_dataset(data, label_map, phase=phase)
        train, val = build_training_cubes(dataset, cfg, quiet=quiet)
        out.mkdir(parents=True, exist_ok=True)
        train.save(train_path)
        val.save(val_path)
    split = {"train_cases": sorted(set(train.case_ids)), "val_cases": sorted(set(val.case_ids))}
    write_json_atomic(split, out / "split.json")
    summary = {"dataset": str(data), "label_map": label_map, "phase": phase, "train_lesions": len(train),
               "val_lesions": len(val), "train_scans": len(split["train_cases"]), "val_scans": len(split["val_cases"])}
    return train_diffusion(train, val, cfg, out, resume=resume, quiet=quiet, data_summary=summary)
