"""Label maps: which integer values of a label file are organ, vessels, tumour or avoid.

A label-map YAML has the keys ``organ``, ``vessels``, ``tumor`` and ``avoid``, each a list of
integer values or structure names (missing keys mean none). One value may serve several roles: a
vessel inside the liver can be both organ and vessel. The optional key ``others`` says what to do
with values the map does not name: ``error`` (the default; catches a wrong map early) or
``background`` (for files with many structures, such as TotalSegmentator's 117 classes).

Structure names (``organ: [liver]``, ``vessels: [portal_vein_and_splenic_vein]``) serve both
kinds of label files. In a folder of per-structure masks (TotalSegmentator's
``segmentations/liver.nii.gz``, AbdomenAtlas) a name is a file name; in a multi-label file it is
looked up in the optional ``classes`` table (``{liver: 5, ...}``), or in the table of the layout
that holds the file (a TotalSegmentator multi-label folder uses TotalSegmentator's). A name the
table knows is stored as its value, so ``organ: [liver]`` with TotalSegmentator's table reads
back as ``organ == (5,)``.

Presets live in ``configs/labelmaps/<name>.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from synthtumor.config_paths import config_dir
from synthtumor.errors import LabelMapError

__all__ = ["LabelMap", "LabelMasks", "resolve_label_map", "DEFAULT_LABEL_MAP"]

_ROLES = ("organ", "vessels", "tumor", "avoid")
_OTHERS = ("error", "background")
_TUMOR_WORDS = ("tumor", "tumour", "cancer", "lesion", "mass", "metasta", "carcinoma", "nodule", "cyst")
_VESSEL_WORDS = ("vessel", "vein", "artery", "aorta", "vena", "portal", "ivc")
_BACKGROUND_WORDS = ("background",)


@dataclass(frozen=True)
class LabelMasks:
    """Boolean masks cut from one label file (None where the map names no value for a role)."""

    organ: np.ndarray | None
    vessels: np.ndarray | None
    tumor: np.ndarray | None
    avoid: np.ndarray | None


@dataclass(frozen=True)
class LabelMap:
    """Which label values (or structure names) play which role (see module docstring).

    Attributes:
        organ, vessels, tumor, avoid: label values, and structure names the ``classes`` table
            does not know (values first, then names, each sorted).
        others: ``error`` or ``background`` for values the map does not name.
        name: a short name, used in messages.
        classes: ``(structure name, label value)`` pairs, sorted by value (may be empty).

    Raises:
        LabelMapError: a value is negative or not an integer, a name is not a plain file name, or
            ``others`` is unknown.
    """

    organ: tuple[int | str, ...] = ()
    vessels: tuple[int | str, ...] = ()
    tumor: tuple[int | str, ...] = ()
    avoid: tuple[int | str, ...] = ()
    others: str = "error"
    name: str = "custom"
    classes: tuple[tuple[str, int], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        table = self._clean_classes()
        object.__setattr__(self, "classes", tuple(sorted(table.items(), key=lambda kv: (kv[1], kv[0]))))
        for role in _ROLES:
            values = getattr(self, role)
            if isinstance(values, (int, np.integer, str)):
                values = (values,)
            try:
                entries = {_as_entry(v, table) for v in values}
            except (TypeError, ValueError):
                raise LabelMapError(
                    f"label map {self.name!r}: {role} must be a list of non-negative integers or structure "
                    f"names, got {values!r}.",
                    fix="write e.g. 'organ: [1]' or 'organ: [liver]'.",
                ) from None
            clean = tuple(sorted(entries, key=lambda v: (isinstance(v, str), v if isinstance(v, str) else f"{v:012d}")))
            if 0 in clean:
                raise LabelMapError(
                    f"label map {self.name!r}: value 0 is background and cannot be {role}.",
                    fix="remove 0 from the list.",
                )
            object.__setattr__(self, role, clean)
        if self.others not in _OTHERS:
            raise LabelMapError(
                f"label map {self.name!r}: others must be one of {_OTHERS}, got {self.others!r}."
            )

    def _clean_classes(self) -> dict[str, int]:
        raw = self.classes
        pairs = raw.items() if isinstance(raw, Mapping) else raw
        try:
            table = {_as_name(str(k) if not isinstance(k, str) else k): _as_label_value(v) for k, v in pairs}
        except (TypeError, ValueError):
            raise LabelMapError(f"label map {self.name!r}: classes must map structure names to label values, "
                                f"got {raw!r}.", fix="write e.g. 'classes: {liver: 5, spleen: 1}'.") from None
        return table

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "custom") -> LabelMap:
        """Build a label map from a mapping with the YAML keys."""
        if not isinstance(data, Mapping):
            raise LabelMapError(f"label map {name!r} must be a mapping with keys {_ROLES}.")
        allowed = set(_ROLES) | {"others", "name", "description", "classes"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise LabelMapError(
                f"label map {name!r} has unknown keys {unknown}.",
                fix=f"use only {sorted(allowed)}.",
            )
        kwargs = {}
        for role in _ROLES:
            value = data.get(role)
            kwargs[role] = (value,) if isinstance(value, (int, float, str)) else tuple(value or ())
        classes = data.get("classes") or {}
        if isinstance(classes, Mapping) and classes and all(isinstance(k, int) for k in classes):
            classes = {v: k for k, v in classes.items()}  # written as {5: liver}
        return cls(**kwargs, others=str(data.get("others", "error")), name=str(data.get("name", name)),
                   classes=classes)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> LabelMap:
        """Read a label-map YAML file.

        Raises:
            LabelMapError: the file is missing, not valid YAML, or malformed.
        """
        path = Path(path)
        if not path.is_file():
            raise LabelMapError(f"label map file not found: {path}.", fix="check the path.")
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:  # a binary file too: one line
            raise LabelMapError(f"label map {path} is not valid YAML: {exc}") from exc
        return cls.from_dict(data or {}, name=path.stem)

    @classmethod
    def preset(cls, name: str) -> LabelMap:
        """Load ``configs/labelmaps/<name>.yaml``.

        Raises:
            LabelMapError: there is no such preset.
        """
        folder = config_dir("labelmaps")
        path = folder / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.yaml"))
            raise LabelMapError(f"no label-map preset {name!r}.", fix=f"use one of {known} or a YAML path.")
        return cls.from_yaml(path)

    @classmethod
    def from_names(cls, names: Mapping[int, str], name: str = "dataset.json") -> LabelMap:
        """Infer roles from class names as datasets give them ({1: "liver", 2: "tumour"}).

        Tumour words (tumour, cancer, lesion, ...) give tumour, vessel words (vessel, vein, ...)
        give vessels, background is skipped, and every other name is taken as the organ.
        """
        roles: dict[str, list[int]] = {role: [] for role in _ROLES}
        for value, label_name in names.items():
            lowered = str(label_name).lower()
            if int(value) == 0 or any(w in lowered for w in _BACKGROUND_WORDS):
                continue
            if any(w in lowered for w in _TUMOR_WORDS):
                roles["tumor"].append(int(value))
            elif any(w in lowered for w in _VESSEL_WORDS):
                roles["vessels"].append(int(value))
            else:
                roles["organ"].append(int(value))
        return cls(**{r: tuple(v) for r, v in roles.items()}, name=name)

    # -- names and values --------------------------------------------------------------------
    @property
    def class_ids(self) -> dict[str, int]:
        """The ``classes`` table as a dict: structure name -> label value."""
        return dict(self.classes)

    @property
    def unresolved_names(self) -> tuple[str, ...]:
        """Structure names of any role that the ``classes`` table gives no value for."""
        return tuple(sorted({v for role in _ROLES for v in getattr(self, role) if isinstance(v, str)}))

    def with_classes(self, table: Mapping[str, int], source: str = "") -> LabelMap:
        """This map with names resolved through ``table`` too (the map's own table wins).

        Args:
            table: structure name -> label value, e.g. the class table of the layout that holds
                the label file.
            source: what the table is, appended to the map's name in messages.
        """
        merged = {**dict(table), **self.class_ids}
        name = f"{self.name} ({source})" if source and self.unresolved_names else self.name
        return replace(self, classes=tuple(merged.items()), name=name)

    def structures(self, role: str) -> tuple[str, ...]:
        """The structure names of ``role``: how a folder of per-structure masks names its files.

        Raises:
            LabelMapError: the role holds a value with no name in the ``classes`` table.
        """
        inverse = {value: name for name, value in reversed(self.classes)}
        names = []
        for entry in getattr(self, role):
            if isinstance(entry, str):
                names.append(entry)
            elif entry in inverse:
                names.append(inverse[entry])
            else:
                raise LabelMapError(
                    f"label map {self.name!r} gives {role} as value {entry}, but per-structure masks are files "
                    "named after structures and the map has no name for that value.",
                    fix=f"name the structures (e.g. '{role}: [liver]'), or add a 'classes:' table.",
                )
        return tuple(dict.fromkeys(names))

    def role_structures(self) -> dict[str, tuple[str, ...]]:
        """Role -> structure names, for every role the map uses."""
        return {role: self.structures(role) for role in _ROLES if getattr(self, role)}

    def check_values(self, where: str = "the label file", case: str | None = None) -> None:
        """Refuse a map that still holds names no class table resolves, for a multi-label file.

        Raises:
            LabelMapError: naming the names.
        """
        if self.unresolved_names:
            raise LabelMapError(
                f"label map {self.name!r} names structures {list(self.unresolved_names)} but {where} holds label "
                "values, and the map has no value for them.",
                case=case,
                fix="add a 'classes:' table (e.g. 'classes: {liver: 5}'), use a preset that has one "
                "(--label-map totalsegmentator), or give the structures as per-structure mask files.",
            )

    # -- use ---------------------------------------------------------------------------------
    @property
    def known_values(self) -> frozenset[int]:
        """Every value the map names, plus 0 (background)."""
        return frozenset(v for role in _ROLES for v in getattr(self, role) if not isinstance(v, str)) | {0}

    def masks(self, label: np.ndarray, case: str | None = None) -> LabelMasks:
        """Cut the role masks out of an integer label array.

        The organ mask includes tumour voxels (tumours lie in the organ); it is None when the
        map names no organ value (Decathlon Task08 has none).

        Raises:
            LabelMapError: the array holds values the map does not know (with ``others: error``),
                or the map names structures it has no value for.
        """
        self.check_values(case=case)
        present = np.unique(label)
        if self.others == "error":
            unknown = sorted(int(v) for v in present if int(v) not in self.known_values)
            if unknown:
                raise LabelMapError(
                    f"the label file holds values {unknown} that label map {self.name!r} does not know "
                    f"(it knows {sorted(self.known_values)}).",
                    case=case,
                    fix="pass the right --label-map, or add 'others: background' to ignore extra values.",
                )

        def mask(values: tuple[int, ...]) -> np.ndarray | None:
            return np.isin(label, values) if values else None

        tumor = mask(self.tumor)
        organ = mask(self.organ + self.tumor) if self.organ else None
        return LabelMasks(organ=organ, vessels=mask(self.vessels), tumor=tumor, avoid=mask(self.avoid))

    def channel_masks(self, channels: np.ndarray) -> LabelMasks:
        """Role masks from one binary mask per channel, where channel ``c`` stands for value ``c + 1``.

        This is how per-structure masks reach MONAI transforms (see
        :func:`synthtumor.io.monai_items.monai_items`): masks may overlap, which one label value
        per voxel could not say.

        Args:
            channels: array (C, X, Y, Z); a voxel belongs to a channel's structure where it is > 0.5.

        Raises:
            LabelMapError: the map names a value above C.
        """
        self.check_values("a stack of per-structure channels")
        wanted = self.known_values - {0}
        if wanted and max(wanted) > channels.shape[0]:
            raise LabelMapError(f"label map {self.name!r} names value {max(wanted)} but the label has only "
                                f"{channels.shape[0]} channels.", fix="build the items with monai_items().")

        def mask(values: tuple[int | str, ...]) -> np.ndarray | None:
            return np.any(channels[[int(v) - 1 for v in values]] > 0.5, axis=0) if values else None

        tumor = mask(self.tumor)
        organ = mask(self.organ + self.tumor) if self.organ else None
        return LabelMasks(organ=organ, vessels=mask(self.vessels), tumor=tumor, avoid=mask(self.avoid))

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of this map."""
        data: dict[str, Any] = {role: list(getattr(self, role)) for role in _ROLES}
        data.update(others=self.others, name=self.name)
        if self.classes:
            data["classes"] = dict(self.classes)
        return data


def _as_label_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise ValueError(value)
    return int(value)


def _as_name(value: str) -> str:
    """A structure name: a plain file name without its NIfTI suffix (``liver``)."""
    name = value.strip()
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(value)
    return name


def _as_entry(value: Any, table: Mapping[str, int]) -> int | str:
    """A role entry: a label value, or a structure name (its value where ``table`` knows it)."""
    if isinstance(value, str):
        name = _as_name(value)
        return table.get(name, name)
    return _as_label_value(value)


#: The roles of label values where nothing says otherwise: 1 organ, 2 tumour (Decathlon Task03,
#: LiTS and synthtumor's own outputs). The one definition; every reader imports it.
DEFAULT_LABEL_MAP = LabelMap(organ=(1,), tumor=(2,), name="decathlon_liver")


def resolve_label_map(spec: LabelMap | Mapping[str, Any] | str | os.PathLike | None) -> LabelMap | None:
    """Accept a LabelMap, its dict form, a YAML path, a preset name, or None."""
    if spec is None or isinstance(spec, LabelMap):
        return spec
    if isinstance(spec, Mapping):
        return LabelMap.from_dict(spec)
    text = str(spec)
    if text.endswith((".yaml", ".yml")) or os.sep in text or Path(text).is_file():
        return LabelMap.from_yaml(text)
    return LabelMap.preset(text)
