"""A dataset of any layout as MONAI data dictionaries, for ``LoadImaged`` and the lesion transforms.

A case with one label file becomes ``{"image": path, "label": path, "case_id": id}``, read with
the dataset's label map. A case of per-structure masks (TotalSegmentator's ``segmentations/``,
AbdomenAtlas) becomes ``{"image": path, "label": [mask paths], "case_id": id}``: ``LoadImaged``
stacks the masks as channels, one per structure the label map names (no other file is read), and
the label map returned with the items calls channel ``c`` value ``c + 1``;
:class:`~synthtumor.transforms.PrepareLesionSynthesisd` and
:class:`~synthtumor.transforms.ApplyLabelMapd` turn such a stack into role masks (overlaps kept)
and a one-channel 0/1/2 label, so the same scan gives the same lesions in every layout.
"""

from __future__ import annotations

from typing import Any

from synthtumor.errors import DatasetLayoutError
from synthtumor.io.case_ref import CaseRef, Dataset
from synthtumor.io.labelmap import DEFAULT_LABEL_MAP, LabelMap
from synthtumor.io.structure_files import structure_files

__all__ = ["monai_items", "DEFAULT_ITEMS_MAP"]

#: The label map of items whose cases carry no map of their own (1 organ, 2 tumour).
DEFAULT_ITEMS_MAP = DEFAULT_LABEL_MAP  # kept for imports of the old name
_ROLES = ("organ", "vessels", "tumor", "avoid")


def _channel_map(label_map: LabelMap, case_id: str, ref: CaseRef) -> tuple[list[str], LabelMap]:
    """The structures' channel order and the map naming roles by channel value (``c + 1``)."""
    files = structure_files(ref.structures, label_map, case_id)  # type: ignore[arg-type]
    order: list[str] = []
    roles: dict[str, list[int]] = {}
    for role in _ROLES:
        for path in files.get(role, []):
            if str(path) not in order:
                order.append(str(path))
            roles.setdefault(role, []).append(order.index(str(path)) + 1)
    channel_map = LabelMap(**{r: tuple(v) for r, v in roles.items()}, others="background",
                           name=f"{label_map.name} (one channel per structure)")
    return order, channel_map


def monai_items(dataset: Dataset) -> tuple[list[dict[str, Any]], LabelMap]:
    """``[{"image", "label", "case_id"[, "vessels"]}]`` for every case, and their label map.

    Cases without a label get no ``"label"`` entry (prediction needs none); a case with a
    separate vessel mask gets its path as ``"vessels"``.

    Raises:
        DatasetLayoutError: the cases need different label maps (e.g. a CSV list mixing
            per-structure folders and multi-label files), which one transform cannot serve.
        CaseFileError: a structure the label map names has no file.
    """
    items: list[dict[str, Any]] = []
    maps: list[LabelMap] = []
    for ref in dataset.refs:
        item: dict[str, Any] = {"image": str(ref.image), "case_id": ref.case_id}
        if ref.structures is not None:
            item["label"], lm = _channel_map(ref.label_map or LabelMap.preset("totalsegmentator"), ref.case_id, ref)
            maps.append(lm)
        elif ref.label is not None:
            item["label"] = str(ref.label)
            maps.append(ref.label_map or DEFAULT_ITEMS_MAP)
        if ref.vessels is not None:
            item["vessels"] = str(ref.vessels)
        items.append(item)
    distinct = list(dict.fromkeys(maps))
    if len(distinct) > 1:
        raise DatasetLayoutError(
            f"{dataset.root}: its cases need {len(distinct)} different label maps "
            f"({[m.name for m in distinct]}); one MONAI transform reads one.",
            fix="keep per-structure folders and multi-label files in separate datasets.",
        )
    return items, distinct[0] if distinct else DEFAULT_ITEMS_MAP
