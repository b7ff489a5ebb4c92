"""Where one case's files are (:class:`CaseRef`), and a dataset of such cases loaded lazily.

Every layout reader (``layouts``, ``structure_layouts``, ``case_lists``) only finds files and
builds refs; nothing is read until a case is loaded. A ref points either at one label file (a
multi-label NIfTI read through its label map) or at a folder of per-structure masks, of which
only the files the label map names are read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from synthtumor.case import Case, Phase
from synthtumor.errors import DatasetLayoutError
from synthtumor.io.case_io import load_case
from synthtumor.io.labelmap import LabelMap

__all__ = ["CaseRef", "Dataset"]


@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are, and how to read them; loading happens in :meth:`load`.

    Attributes:
        case_id: the case's id (output names and seeds derive from it).
        image: a NIfTI file or a DICOM series folder.
        label: one multi-label NIfTI file, or None.
        label_map: the roles of the label's values, or of the structure names.
        vessels, avoid: optional binary mask files.
        phase: contrast phase.
        structures: a folder of per-structure masks ``<name>.nii.gz`` (TotalSegmentator's
            ``segmentations/``, AbdomenAtlas), used instead of ``label``.
    """

    case_id: str
    image: Path
    label: Path | None
    label_map: LabelMap | None
    vessels: Path | None = None
    avoid: Path | None = None
    phase: str = Phase.UNKNOWN.value
    structures: Path | None = None

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
            structures=self.structures,
        )


class Dataset(Sequence[Case]):
    """The cases of one dataset (folder, CSV list or single scan), each loaded when indexed or iterated.

    Attributes:
        root: the dataset folder, CSV file, or image file of a single scan.
        layout: one of ``synthtumor.io.layouts.LAYOUTS``.
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
