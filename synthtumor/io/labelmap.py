"""Label maps: which integer values of a label file are organ, vessels, tumour or avoid.

A label-map YAML has the keys ``organ``, ``vessels``, ``tumor`` and ``avoid``, each a list of
integer values (missing keys mean none). One value may serve several roles: a vessel inside the
liver can be both organ and vessel. The optional key ``others`` says what to do with values the
map does not name: ``error`` (the default; catches a wrong map early) or ``background`` (for
files with many structures, such as TotalSegmentator's 117 classes).

Presets live in ``configs/labelmaps/<name>.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from synthtumor.config_paths import config_dir
from synthtumor.errors import LabelMapError

__all__ = ["LabelMap", "LabelMasks", "resolve_label_map"]

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
    """Which label values play which role (see module docstring).

    Raises:
        LabelMapError: a value is negative or not an integer, or ``others`` is unknown.
    """

    organ: tuple[int, ...] = ()
    vessels: tuple[int, ...] = ()
    tumor: tuple[int, ...] = ()
    avoid: tuple[int, ...] = ()
    others: str = "error"
    name: str = "custom"

    def __post_init__(self) -> None:
        for role in _ROLES:
            values = getattr(self, role)
            if isinstance(values, (int, np.integer)):
                values = (values,)
            try:
                clean = tuple(sorted({_as_label_value(v) for v in values}))
            except (TypeError, ValueError):
                raise LabelMapError(
                    f"label map {self.name!r}: {role} must be a list of non-negative integers, got {values!r}.",
                    fix="write e.g. 'organ: [1]'.",
                ) from None
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

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "custom") -> LabelMap:
        """Build a label map from a mapping with the YAML keys."""
        if not isinstance(data, Mapping):
            raise LabelMapError(f"label map {name!r} must be a mapping with keys {_ROLES}.")
        allowed = set(_ROLES) | {"others", "name", "description"}
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
        return cls(**kwargs, others=str(data.get("others", "error")), name=str(data.get("name", name)))

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
        except yaml.YAMLError as exc:
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

    # -- use ---------------------------------------------------------------------------------
    @property
    def known_values(self) -> frozenset[int]:
        """Every value the map names, plus 0 (background)."""
        return frozenset((0, *self.organ, *self.vessels, *self.tumor, *self.avoid))

    def masks(self, label: np.ndarray, case: str | None = None) -> LabelMasks:
        """Cut the role masks out of an integer label array.

        The organ mask includes tumour voxels (tumours lie in the organ); it is None when the
        map names no organ value (Decathlon Task08 has none).

        Raises:
            LabelMapError: the array holds values the map does not know (with ``others: error``).
        """
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

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of this map."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def _as_label_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise ValueError(value)
    return int(value)


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
