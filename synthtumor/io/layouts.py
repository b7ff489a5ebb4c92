"""Dataset layouts: find the cases of a folder and load them lazily.

Supported layouts (:func:`detect_layout` gives the order it checks them in):

``cases``
    synthtumor's own: ``<root>/<case_id>/image.nii.gz`` + ``label.nii.gz`` (+ ``vessels.nii.gz``,
    ``avoid.nii.gz``, ``case.json``), with ``<root>/dataset.json``.
``decathlon``
    Medical Segmentation Decathlon: ``dataset.json`` with a ``training`` list of
    ``{"image": ..., "label": ...}`` and ``labels`` {"1": "liver", "2": "cancer"}.
``nnunet``
    nnU-Net v2 raw: ``dataset.json`` with ``channel_names`` and ``labels`` {"liver": 1},
    ``imagesTr/<id>_0000<file_ending>``, ``labelsTr/<id><file_ending>``.
``lits``
    LiTS: ``volume-N.nii`` and ``segmentation-N.nii`` anywhere up to two folders deep.
``totalsegmentator``, ``abdomenatlas``, ``totalsegmentator_ml``
    ``<case>/ct.nii.gz`` with ``segmentations/<structure>.nii.gz`` or one multi-label file; one
    such case folder, or a folder of them (see :mod:`synthtumor.io.structure_layouts`).
``csv``
    a ``case_id,image,label[,vessels]`` file (see :mod:`synthtumor.io.case_lists`).
``pair``
    one image and its label, given as such (:func:`load_pair`; ``--image`` / ``--label``).

Roles of label values come from ``dataset.json`` class names (or the layout's preset) unless a
label map is given.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from synthtumor.case import Phase
from synthtumor.errors import ConfigError, DatasetLayoutError
from synthtumor.io.case_io import CASE_FILES, case_id_from_path
from synthtumor.io.case_lists import csv_refs, pair_ref
from synthtumor.io.case_ref import CaseRef, Dataset
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.nifti import is_nifti
from synthtumor.io.structure_layouts import find_structure_cases, structure_refs

__all__ = ["CaseRef", "Dataset", "load_dataset", "load_pair", "open_input", "input_paths", "detect_layout",
           "dataset_class_names", "visible",
           "LAYOUTS", "LAYOUT_DESCRIPTIONS"]

#: What each layout is, as ``synthtumor info`` says it.
LAYOUT_DESCRIPTIONS = {
    "cases": "synthtumor case folders (<case>/image.nii.gz, label.nii.gz, vessels.nii.gz, case.json)",
    "decathlon": "Medical Segmentation Decathlon task (dataset.json 'training' list, imagesTr/, labelsTr/)",
    "nnunet": "nnU-Net v2 raw dataset (dataset.json 'channel_names', imagesTr/<id>_0000, labelsTr/<id>)",
    "lits": "LiTS (volume-N.nii + segmentation-N.nii)",
    "totalsegmentator": "TotalSegmentator per-structure output (<case>/ct.nii.gz + segmentations/<structure>.nii.gz)",
    "abdomenatlas": "AbdomenAtlas (BDMAP_<id>/ct.nii.gz + segmentations/<structure>.nii.gz)",
    "totalsegmentator_ml": "TotalSegmentator multi-label output (<case>/ct.nii.gz + seg.nii.gz of class ids)",
    "csv": "CSV list of cases (case_id,image,label[,vessels]; paths relative to the file)",
    "pair": "one image and its label (--image, --label)",
}
LAYOUTS = tuple(LAYOUT_DESCRIPTIONS)
_CASES_MAP = LabelMap(organ=(1,), tumor=(2,), name="synthtumor_cases")
_TUMOR_ONLY_MAP = LabelMap(tumor=(2,), others="background", name="synthtumor_cases_no_organ")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetLayoutError(f"cannot read {path}: {exc}.", fix="check the JSON syntax.") from exc
    if not isinstance(data, dict):
        raise DatasetLayoutError(f"{path} does not hold a JSON object.")
    return data


def visible(path: Path) -> bool:
    """False for hidden files: Decathlon archives unpacked on macOS carry '._name.nii.gz' forks."""
    return not path.name.startswith(".")


def dataset_class_names(root: Path) -> dict[int, str]:
    """Label value -> class name from ``root/dataset.json``: Decathlon's ``{"1": "liver"}`` or
    nnU-Net v2's ``{"liver": 1}`` (its region lists, which overlap the plain classes, skipped);
    empty without a ``dataset.json``.

    Raises:
        DatasetLayoutError: the file is not readable JSON.
    """
    meta = root / "dataset.json"
    if not meta.is_file():
        return {}
    names: dict[int, str] = {}
    for key, value in (_read_json(meta).get("labels") or {}).items():
        if str(key).isdigit():
            names[int(key)] = str(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            names[value] = str(key)
    return names


def detect_layout(root: Path) -> str:
    """Which of ``LAYOUTS`` the folder (or CSV file) ``root`` follows; the one place that decides.

    Checked in this order: a ``.csv`` file; ``dataset.json`` (synthtumor, nnU-Net, Decathlon);
    sub-folders holding ``image.nii.gz`` (synthtumor cases); ``root`` or its sub-folders holding
    ``ct.nii.gz`` with ``segmentations/`` or a multi-label file (TotalSegmentator, AbdomenAtlas);
    ``imagesTr/`` + ``labelsTr/`` (nnU-Net); ``volume-N.nii`` files (LiTS).

    Raises:
        DatasetLayoutError: none of them (the message lists what was looked for), or case folders
            of different layouts side by side.
    """
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "csv"
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder not found: {root}.", fix="check the path.")
    meta = root / "dataset.json"
    if meta.is_file():
        data = _read_json(meta)
        if data.get("format") == "synthtumor-cases":
            return "cases"
        if "channel_names" in data:
            return "nnunet"
        if isinstance(data.get("training"), list):
            return "decathlon"
    if any((d / CASE_FILES["image"]).is_file() for d in root.iterdir() if d.is_dir()):
        return "cases"
    structures = find_structure_cases(root)
    if structures is not None:
        return structures[0]
    if (root / "imagesTr").is_dir() and (root / "labelsTr").is_dir():
        return "nnunet"
    if _lits_volumes(root):
        return "lits"
    raise DatasetLayoutError(
        f"{root} follows no dataset layout synthtumor knows. Looked for: a dataset.json (synthtumor, "
        "Decathlon, nnU-Net); <case>/image.nii.gz (synthtumor cases); ct.nii.gz with segmentations/<structure>.nii.gz "
        "(TotalSegmentator, AbdomenAtlas BDMAP_*) or with seg.nii.gz / segmentation.nii.gz / one other NIfTI "
        "(TotalSegmentator multi-label), in the folder or its sub-folders; imagesTr/ + labelsTr/ (nnU-Net); "
        "volume-N.nii + segmentation-N.nii (LiTS).",
        fix="point --input at one of these, list the cases in a CSV file (case_id,image,label), or pass one "
        "scan as --image CT --label SEG.",
    )


def _cases_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    index = root / "dataset.json"
    written_by_us = index.is_file() and _read_json(index).get("format") == "synthtumor-cases"
    refs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and visible(p)):
        image = folder / CASE_FILES["image"]
        meta_path = folder / CASE_FILES["meta"]
        if not image.is_file() or (written_by_us and not meta_path.is_file()):
            continue  # not a case, or an unfinished write (case.json comes last)
        meta = _read_json(meta_path) if meta_path.is_file() else {}
        label = folder / CASE_FILES["label"]
        default_map = _CASES_MAP if meta.get("has_organ", True) else _TUMOR_ONLY_MAP
        refs.append(
            CaseRef(
                case_id=str(meta.get("case_id", folder.name)),
                image=image,
                label=label if label.is_file() else None,
                label_map=label_map or default_map,
                vessels=_optional(folder / CASE_FILES["vessels"]),
                avoid=_optional(folder / CASE_FILES["avoid"]),
                phase=str(meta.get("phase", Phase.UNKNOWN.value)),
            )
        )
    return refs


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


def _with_dataset_names(label_map: LabelMap, names: dict[int, str], root: Path) -> LabelMap:
    """A map naming structures reads their values from dataset.json's class names."""
    if not label_map.unresolved_names:
        return label_map
    lm = label_map.with_classes({v: k for k, v in names.items()}, f"{root.name}/dataset.json classes")
    lm.check_values(f"{root.name}'s label files")
    return lm


def _decathlon_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    data = _read_json(root / "dataset.json")
    names = dataset_class_names(root)
    if label_map is not None:
        label_map = _with_dataset_names(label_map, names, root)
    lm = label_map or LabelMap.from_names(names, name=f"{root.name}/dataset.json")
    refs = []
    for entry in data["training"]:
        if not isinstance(entry, dict) or "image" not in entry:
            raise DatasetLayoutError(f"{root}/dataset.json: training entry {entry!r} has no 'image'.")
        image = root / entry["image"]
        label = root / entry["label"] if entry.get("label") else None
        refs.append(CaseRef(case_id_from_path(image), image, label, lm))
    return refs


def _nnunet_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    meta = root / "dataset.json"
    data = _read_json(meta) if meta.is_file() else {}
    ending = str(data.get("file_ending", ".nii.gz"))
    names = dataset_class_names(root)
    if label_map is not None:
        label_map = _with_dataset_names(label_map, names, root)
    lm = label_map or (LabelMap.from_names(names, name=f"{root.name}/dataset.json") if names else None)
    refs = []
    for image in sorted((root / "imagesTr").glob(f"*_0000{ending}")):
        if not visible(image):
            continue
        case_id = image.name[: -len(f"_0000{ending}")]
        label = root / "labelsTr" / f"{case_id}{ending}"
        refs.append(CaseRef(case_id, image, label if label.is_file() else None, lm))
    if not refs:
        raise DatasetLayoutError(
            f"{root}/imagesTr holds no '<id>_0000{ending}' files.",
            fix="nnU-Net raw images are named <case>_0000.nii.gz (channel 0 = CT).",
        )
    return refs


_LITS_VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")


def _lits_volumes(root: Path) -> list[Path]:
    found = []
    for pattern in ("volume-*.nii*", "*/volume-*.nii*", "*/*/volume-*.nii*"):
        found.extend(p for p in root.glob(pattern) if _LITS_VOLUME.match(p.name) and visible(p))
    return sorted(found)


def _lits_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    lm = label_map or LabelMap(organ=(1,), tumor=(2,), name="lits")
    refs = []
    for volume in _lits_volumes(root):
        number = _LITS_VOLUME.match(volume.name).group(1)  # type: ignore[union-attr]
        candidates = [volume.parent / f"segmentation-{number}{ext}" for ext in (".nii", ".nii.gz")]
        label = next((c for c in candidates if c.is_file()), None)
        if label is None:
            label = next(iter(sorted(root.rglob(f"segmentation-{number}.nii*"))), None)
        refs.append(CaseRef(f"lits_{int(number):03d}", volume, label, lm))
    return refs


def _structure_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    return structure_refs(root, label_map)[1]


_READERS = {"cases": _cases_refs, "decathlon": _decathlon_refs, "nnunet": _nnunet_refs, "lits": _lits_refs,
            "totalsegmentator": _structure_refs, "abdomenatlas": _structure_refs,
            "totalsegmentator_ml": _structure_refs, "csv": csv_refs}


def load_dataset(
    path: str | os.PathLike,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    layout: str | None = None,
    phase: Phase | str | None = None,
    expect_ct: bool = True,
) -> Dataset:
    """Find the cases of a dataset folder (or CSV list) in any supported layout; load each lazily.

    Args:
        path: the dataset folder, one TotalSegmentator / AbdomenAtlas case folder, or a CSV file.
        label_map: overrides the roles inferred from the layout (LabelMap, preset name or YAML).
        layout: force one of ``LAYOUTS`` instead of detecting it.
        phase: contrast phase of every case (overrides what case.json says).
        expect_ct: refuse images that do not look like CT in HU when loading.

    Raises:
        DatasetLayoutError: the folder is missing, follows no known layout, or holds no case.
    """
    root = Path(path)
    if not root.is_dir() and not (root.is_file() and root.suffix.lower() == ".csv"):
        what = "is a file, not a dataset folder or .csv list" if root.exists() else "not found"
        raise DatasetLayoutError(f"dataset folder {what}: {root}.",
                                 fix="pass a folder, a .csv list, or one scan as --image CT --label SEG.")
    lm = resolve_label_map(label_map)
    kind = layout or detect_layout(root)
    if kind not in _READERS:
        raise DatasetLayoutError(f"unknown layout {kind!r}.", fix=f"use one of {LAYOUTS}.")
    return _dataset(root, kind, _READERS[kind](root, lm), phase, expect_ct)


def _dataset(root: Path, kind: str, refs: list[CaseRef], phase: Phase | str | None, expect_ct: bool) -> Dataset:
    if phase is not None:
        value = Phase.parse(phase).value
        refs = [replace(r, phase=value) for r in refs]
    if not refs:
        raise DatasetLayoutError(f"{root} ({kind} layout) holds no case.")
    for ref in refs:
        if not is_nifti(ref.image) and not ref.image.is_dir():
            raise DatasetLayoutError(f"{ref.image} is not a NIfTI file.", case=ref.case_id)
    return Dataset(root, kind, refs, expect_ct=expect_ct)


def load_pair(
    image: str | os.PathLike,
    label: str | os.PathLike | None = None,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    phase: Phase | str | None = None,
    expect_ct: bool = True,
) -> Dataset:
    """A one-case dataset from an image and its label file or per-structure folder (layout ``pair``).

    Raises:
        CaseFileError: a path does not exist.
        LabelMapError: the label map names structures a multi-label file cannot resolve.
    """
    ref = pair_ref(Path(image), Path(label) if label is not None else None, resolve_label_map(label_map))
    return _dataset(Path(image), "pair", [ref], phase, expect_ct)


def input_paths(
    input_path: str | os.PathLike | None, image: str | os.PathLike | None = None, label: str | os.PathLike | None = None
) -> dict[str, Path | None]:
    """What a command reads: ``{"input": folder}`` or ``{"image": ..., "label": ...}`` (for guards).

    Raises:
        ConfigError: neither or both of ``--input`` and ``--image`` given, or ``--label`` without ``--image``.
    """
    if input_path is not None and (image is not None or label is not None):
        raise ConfigError("give --input DATASET or --image CT [--label SEG], not both.")
    if input_path is not None:
        return {"input": Path(input_path)}
    if image is None:
        raise ConfigError("no input: give --input DATASET (a folder or a .csv list) or --image CT [--label SEG].")
    return {"image": Path(image), "label": Path(label) if label is not None else None}


def open_input(
    input_path: str | os.PathLike | None = None,
    image: str | os.PathLike | None = None,
    label: str | os.PathLike | None = None,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    phase: Phase | str | None = None,
    expect_ct: bool = True,
) -> Dataset:
    """The dataset a command's ``--input`` or ``--image`` / ``--label`` options name.

    Raises:
        ConfigError: neither or both forms given.
        SynthTumorError: the dataset cannot be read (see :func:`load_dataset`, :func:`load_pair`).
    """
    paths = input_paths(input_path, image, label)
    if "input" in paths:
        return load_dataset(paths["input"], label_map, phase=phase, expect_ct=expect_ct)  # type: ignore[arg-type]
    image_path = paths["image"]
    assert image_path is not None  # input_paths checked it
    return load_pair(image_path, paths["label"], label_map, phase=phase, expect_ct=expect_ct)
