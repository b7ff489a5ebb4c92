"""Dataset layouts: find the cases of a folder and load them lazily.

Supported layouts (detected in this order):

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

Roles of label values come from ``dataset.json`` class names unless a label map is given.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthtumor.case import Case, Phase
from synthtumor.errors import DatasetLayoutError
from synthtumor.io.case_io import CASE_FILES, case_id_from_path, load_case
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.nifti import is_nifti

__all__ = ["CaseRef", "Dataset", "load_dataset", "detect_layout", "LAYOUTS"]

LAYOUTS = ("cases", "decathlon", "nnunet", "lits")
_CASES_MAP = LabelMap(organ=(1,), tumor=(2,), name="synthtumor_cases")
_TUMOR_ONLY_MAP = LabelMap(tumor=(2,), others="background", name="synthtumor_cases_no_organ")


@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are, and how to read them; loading happens in :meth:`load`."""

    case_id: str
    image: Path
    label: Path | None
    label_map: LabelMap | None
    vessels: Path | None = None
    avoid: Path | None = None
    phase: str = Phase.UNKNOWN.value

    def load(self, expect_ct: bool = True) -> Case:
        """Read the files and build the Case."""
        return load_case(
            self.image,
            self.label,
            self.label_map,
            vessels_path=self.vessels,
            avoid_path=self.avoid,
            case_id=self.case_id,
            phase=self.phase,
            expect_ct=expect_ct,
        )


class Dataset(Sequence[Case]):
    """The cases of one dataset folder, each loaded only when indexed or iterated.

    Attributes:
        root: the dataset folder.
        layout: one of ``LAYOUTS``.
        refs: one :class:`CaseRef` per case, sorted by case id.
    """

    def __init__(self, root: Path, layout: str, refs: list[CaseRef], expect_ct: bool = True) -> None:
        self.root = root
        self.layout = layout
        self.refs = sorted(refs, key=lambda r: r.case_id)
        self.expect_ct = expect_ct
        ids = [r.case_id for r in self.refs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise DatasetLayoutError(f"{root}: case ids {dupes} occur more than once.")

    @property
    def case_ids(self) -> list[str]:
        """Case ids in order."""
        return [r.case_id for r in self.refs]

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> Case:  # type: ignore[override]
        return self.refs[index].load(self.expect_ct)

    def __iter__(self) -> Iterator[Case]:
        for ref in self.refs:
            yield ref.load(self.expect_ct)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, layout={self.layout!r}, n={len(self)})"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetLayoutError(f"cannot read {path}: {exc}.", fix="check the JSON syntax.") from exc
    if not isinstance(data, dict):
        raise DatasetLayoutError(f"{path} does not hold a JSON object.")
    return data


def _visible(path: Path) -> bool:
    # Decathlon archives unpacked on macOS carry '._name.nii.gz' resource forks.
    return not path.name.startswith(".")


def detect_layout(root: Path) -> str:
    """Which of ``LAYOUTS`` the folder ``root`` follows.

    Raises:
        DatasetLayoutError: none of them.
    """
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
    if (root / "imagesTr").is_dir() and (root / "labelsTr").is_dir():
        return "nnunet"
    if _lits_volumes(root):
        return "lits"
    raise DatasetLayoutError(
        f"{root} follows no dataset layout synthtumor knows.",
        fix="use a synthtumor case folder, a Decathlon task folder (dataset.json), an nnU-Net raw "
        "folder (imagesTr/, labelsTr/), or LiTS volume-N.nii / segmentation-N.nii files.",
    )


def _cases_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    index = root / "dataset.json"
    written_by_us = index.is_file() and _read_json(index).get("format") == "synthtumor-cases"
    refs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _visible(p)):
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


def _decathlon_refs(root: Path, label_map: LabelMap | None) -> list[CaseRef]:
    data = _read_json(root / "dataset.json")
    names = {int(k): str(v) for k, v in (data.get("labels") or {}).items()}
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
    names: dict[int, str] = {}
    for name, value in (data.get("labels") or {}).items():
        if isinstance(value, list):
            continue  # region-based training labels overlap the plain classes
        names[int(value)] = str(name)
    lm = label_map or (LabelMap.from_names(names, name=f"{root.name}/dataset.json") if names else None)
    refs = []
    for image in sorted((root / "imagesTr").glob(f"*_0000{ending}")):
        if not _visible(image):
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
        found.extend(p for p in root.glob(pattern) if _LITS_VOLUME.match(p.name) and _visible(p))
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


_READERS = {"cases": _cases_refs, "decathlon": _decathlon_refs, "nnunet": _nnunet_refs, "lits": _lits_refs}


def load_dataset(
    path: str | os.PathLike,
    label_map: LabelMap | str | os.PathLike | None = None,
    *,
    layout: str | None = None,
    phase: Phase | str | None = None,
    expect_ct: bool = True,
) -> Dataset:
    """Find the cases of a dataset folder in any supported layout; load each lazily.

    Args:
        path: the dataset folder.
        label_map: overrides the roles inferred from the layout (LabelMap, preset name or YAML).
        layout: force one of ``LAYOUTS`` instead of detecting it.
        phase: contrast phase of every case (overrides what case.json says).
        expect_ct: refuse images that do not look like CT in HU when loading.

    Raises:
        DatasetLayoutError: the folder is missing, follows no known layout, or holds no case.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset folder not found: {root}.", fix="check the path.")
    lm = resolve_label_map(label_map)
    kind = layout or detect_layout(root)
    if kind not in _READERS:
        raise DatasetLayoutError(f"unknown layout {kind!r}.", fix=f"use one of {LAYOUTS}.")
    refs = _READERS[kind](root, lm)
    if phase is not None:
        value = Phase.parse(phase).value
        refs = [CaseRef(r.case_id, r.image, r.label, r.label_map, r.vessels, r.avoid, value) for r in refs]
    if not refs:
        raise DatasetLayoutError(f"{root} ({kind} layout) holds no case.")
    for ref in refs:
        if not is_nifti(ref.image) and not ref.image.is_dir():
            raise DatasetLayoutError(f"{ref.image} is not a NIfTI file.", case=ref.case_id)
    return Dataset(root, kind, refs, expect_ct=expect_ct)
