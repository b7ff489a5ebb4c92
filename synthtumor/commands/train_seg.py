"""``synthtumor train-seg`` and ``synthtumor predict``: train a segmentation model, segment scans.

``train-seg`` trains on ``--train`` (any layout), optionally with on-the-fly synthetic lesions
(``--synthetic PRESET``), writes the run folder (see :mod:`synthtumor.train_seg.trainer`) with
``run.json`` and ``resolved_config.yaml``, and, given ``--val``, predicts the validation cases
and evaluates them (``val_predictions/``, ``val_metrics/``). ``--resume`` continues an
interrupted run.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator
from synthtumor.io.case_io import write_text_atomic
from synthtumor.io.guards import check_output_apart, check_output_free
from synthtumor.io.nifti import is_nifti, ras_geometry
from synthtumor.io.scan_checks import check_spacing
from synthtumor.metrics.dataset_eval import run_evaluate
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items
from synthtumor.train_seg.predict import run_predict
from synthtumor.train_seg.trainer import STAGE_FOLDERS, train_stage

__all__ = ["run_train_seg"]


def _check_val_spacing(val: str | os.PathLike, label_map: str | None) -> None:
    """Refuse, before hours of training, a validation scan that prediction would refuse for its
    voxel size (read from the header only)."""
    for item in dataset_items(val, label_map)[0]:
        if is_nifti(item["image"]):
            affine, _, _ = ras_geometry(item["image"], case=item["case_id"])
            check_spacing(np.linalg.norm(affine[:3, :3], axis=0), item["case_id"])


def run_train_seg(
    train: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: TrainConfig | str = "tiny_cpu",
    val: str | os.PathLike | None = None,
    label_map: str | None = None,
    phase: str | None = None,
    synthetic_preset: str | None = None,
    synthesis_prob: float = 1.0,
    max_steps: int | None = None,
    resume: bool = False,
    quiet: bool = False,
    overwrite: bool = False,
) -> Path:
    """Train (every stage of the strategy) and return the run folder.

    ``out`` must be new, empty or a train-seg run (continued with ``resume``); ``overwrite`` lets
    a new run write into another non-empty folder.

    Raises:
        ConfigError: bad options, an existing run without ``resume``, or a folder holding other files.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.load(config)
    if max_steps is not None:
        if max_steps < 1:
            raise ConfigError("--max-steps must be at least 1.")
        cfg = replace(cfg, iterations=max_steps, checkpoint_every=min(cfg.checkpoint_every, max_steps))
    if not 0.0 <= synthesis_prob <= 1.0:
        raise ConfigError("--synthesis-prob must be in [0, 1].")
    run = Path(out)
    check_output_apart(run, {"training data": train, "validation data": val})
    check_output_free(run, "train-seg", lambda folder: (folder / "run.json").is_file(), overwrite=overwrite)
    items, lm = dataset_items(train, label_map)
    if val is not None:
        _check_val_spacing(val, label_map)
    generator = HeuristicGenerator.from_preset(synthetic_preset) if synthetic_preset else None
    record: dict[str, Any] = {"strategy": cfg.strategy, "train": str(train), "val": str(val) if val else None,
                              "label_map": lm.to_dict(), "phase": phase, "synthetic_preset": synthetic_preset,
                              "synthesis_prob": synthesis_prob, "cases": [i["case_id"] for i in items]}
    if (run / "run.json").is_file() and not resume:
        raise ConfigError(f"{run} already holds a run.", fix="use --resume, or another --out.")
    run.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(record, indent=2) + "\n", run / "run.json")
    write_text_atomic(yaml.safe_dump({"train": cfg.to_dict(), **record}, sort_keys=False), run / "resolved_config.yaml")
    for stage, folder in STAGE_FOLDERS[cfg.strategy].items():
        train_stage(cfg, items, run / folder, stage=stage, label_map=lm, generator=generator,
                    synthesis_prob=synthesis_prob, phase=phase or "unknown", resume=resume, quiet=quiet)
    if val is not None:
        run_predict(run, val, run / "val_predictions", label_map=label_map, quiet=quiet)
        run_evaluate(run / "val_predictions", val, run / "val_metrics", label_map=label_map, quiet=quiet)
    return run
