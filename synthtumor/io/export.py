"""Dataset writers for generated cases: synthtumor case folders, nnU-Net v2 raw, Decathlon.

Each writer puts one case's files in place (atomically, through temporary names) and, once
all cases exist, writes the dataset's index (``dataset.json``). Labels are 0 background,
1 organ, 2 tumour (every tumour, old and new).

* ``cases``: ``OUT/<id>/image.nii.gz``, ``label.nii.gz``, ``vessels.nii.gz``, ``case.json``.
* ``nnunet``: ``OUT/Dataset<NNN>_<Name>/imagesTr/<id>_0000.nii.gz``, ``labelsTr/<id>.nii.gz``,
  ``dataset.json`` with ``channel_names`` {"0": "CT"}, ``labels``, ``numTraining`` and
  ``file_ending``, as nnU-Net v2 expects.
* ``decathlon``: ``OUT/Task<NN>_<Name>/imagesTr/<id>.nii.gz``, ``labelsTr/<id>.nii.gz`` and a
  Decathlon ``dataset.json`` (``modality``, ``labels``, ``training`` list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.case import Case
from synthtumor.errors import ConfigError
from synthtumor.io.case_io import save_case, write_cases_index, write_json_atomic
from synthtumor.io.nifti import storage_dtype, write_nifti

__all__ = ["FORMATS", "DatasetWriter", "make_writer"]

FORMATS = ("cases", "nnunet", "decathlon")
_NAME = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class DatasetWriter:
    """Writes cases in one of ``FORMATS`` under ``out``.

    Attributes:
        format: one of ``FORMATS``.
        out: the output folder.
        root: the dataset folder inside it (``out`` itself for ``cases``).
        organ_name: the organ's class name in ``dataset.json`` (e.g. ``liver``).
        description: one sentence for ``dataset.json``.
    """

    format: str
    out: Path
    root: Path
    organ_name: str
    description: str

    def image_path(self, case_id: str) -> Path:
        """Where the image of ``case_id`` goes (its existence marks nothing: see records)."""
        if self.format == "cases":
            return self.root / case_id / "image.nii.gz"
        suffix = "_0000" if self.format == "nnunet" else ""
        return self.root / "imagesTr" / f"{case_id}{suffix}.nii.gz"

    def write_case(self, case: Case, extra_meta: dict[str, Any] | None = None) -> None:
        """Write one case's files."""
        if self.format == "cases":
            save_case(case, self.root, extra_meta=extra_meta)
            return
        source = case.source
        dtype = source.dtype if source is not None else storage_dtype(case.image)
        write_nifti(case.image, case.affine, self.image_path(case.case_id), source=source, dtype=dtype)
        label_path = self.root / "labelsTr" / f"{case.case_id}.nii.gz"
        write_nifti(case.label, case.affine, label_path, source=source, dtype=np.uint8)

    def case_files(self, case_id: str) -> list[Path]:
        """The files :meth:`write_case` wrote for ``case_id`` (call after it), sorted."""
        if self.format == "cases":
            folder = self.root / case_id
            return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return [self.image_path(case_id), self.root / "labelsTr" / f"{case_id}.nii.gz"]

    def write_index(self, case_ids: list[str], **extra: Any) -> Path:
        """Write ``dataset.json`` for the given cases (call once all exist)."""
        if self.format == "cases":
            return write_cases_index(self.root, case_ids, name=self.root.name or "synthtumor",
                                     description=self.description, organ=self.organ_name, **extra)
        path = self.root / "dataset.json"
        if self.format == "nnunet":
            data: dict[str, Any] = {
                "channel_names": {"0": "CT"},
                "labels": {"background": 0, self.organ_name: 1, "tumor": 2},
                "numTraining": len(case_ids),
                "file_ending": ".nii.gz",
                "name": self.root.name,
                "description": self.description,
            }
        else:
            data = {
                "name": self.root.name,
                "description": self.description,
                "reference": "synthtumor",
                "licence": "see the source dataset",
                "tensorImageSize": "3D",
                "modality": {"0": "CT"},
                "labels": {"0": "background", "1": self.organ_name, "2": "cancer"},
                "numTraining": len(case_ids),
                "numTest": 0,
                "training": [
                    {"image": f"./imagesTr/{cid}.nii.gz", "label": f"./labelsTr/{cid}.nii.gz"} for cid in case_ids
                ],
                "test": [],
            }
        data.update(extra)
        write_json_atomic(data, path)
        return path


def make_writer(
    format: str,
    out: str | Path,
    *,
    organ_name: str = "liver",
    description: str = "",
    dataset_id: int | None = None,
    dataset_name: str = "SynthTumor",
) -> DatasetWriter:
    """A writer for ``format`` under ``out``.

    Args:
        format: one of ``FORMATS``.
        out: output folder.
        organ_name: class name of label 1.
        description: one sentence for ``dataset.json``.
        dataset_id: nnU-Net dataset number (1-999, default 501) or Decathlon task number
            (1-99, default 90).
        dataset_name: letters and digits only.

    Raises:
        ConfigError: unknown format, or a dataset id / name nnU-Net or Decathlon would refuse.
    """
    out = Path(out)
    if format not in FORMATS:
        raise ConfigError(f"unknown output format {format!r}.", fix=f"use one of {FORMATS}.")
    if not _NAME.match(dataset_name):
        raise ConfigError(f"dataset name {dataset_name!r} must be letters and digits only.")
    if format == "nnunet":
        dataset_id = 501 if dataset_id is None else dataset_id
        if not 1 <= dataset_id <= 999:
            raise ConfigError(f"nnU-Net dataset ids run 1..999, got {dataset_id}.")
        root = out / f"Dataset{dataset_id:03d}_{dataset_name}"
    elif format == "decathlon":
        dataset_id = 90 if dataset_id is None else dataset_id
        if not 1 <= dataset_id <= 99:
            raise ConfigError(f"Decathlon task numbers run 1..99, got {dataset_id}.")
        root = out / f"Task{dataset_id:02d}_{dataset_name}"
    else:
        root = out
    return DatasetWriter(format, out, root, organ_name, description)
