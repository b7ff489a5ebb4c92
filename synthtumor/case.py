"""`Case`: one CT scan with its masks, validated on construction.

Conventions (see docs/ARCHITECTURE in the README):

* ``image`` is float32 Hounsfield units, indexed (X, Y, Z) with the array axes running
  towards patient Right, Anterior and Superior (nibabel's RAS+ canonical orientation).
* ``affine`` maps voxel indices to world RAS+ millimetres; ``spacing`` (mm) is derived from it.
* ``organ`` is the whole organ, tumours inside it included; ``tumor`` is every tumour voxel;
  ``vessels`` may be ``None`` when the scan has no vessel labels; ``avoid`` marks anything no new
  lesion may touch (existing lesions, devices, other organs).
* ``label`` is the output label map: 0 background, 1 organ, 2 tumour (Decathlon Task03 / LiTS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from synthtumor.errors import InvalidCaseError

if TYPE_CHECKING:  # nibabel is imported where it is used: it takes ~0.6 s, mostly pydicom
    import nibabel as nib

__all__ = ["Case", "Phase", "SourceGeometry"]

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Phase(str, Enum):
    """Contrast phase of a CT scan."""

    NATIVE = "native"
    ARTERIAL = "arterial"
    PORTAL = "portal"
    DELAYED = "delayed"
    UNKNOWN = "unknown"

    @property
    def is_contrast_enhanced(self) -> bool:
        """True for arterial, portal and delayed phases."""
        return self in (Phase.ARTERIAL, Phase.PORTAL, Phase.DELAYED)

    @classmethod
    def parse(cls, value: str | Phase, case: str | None = None) -> Phase:
        """Return the phase named by ``value`` (case-insensitive).

        Raises:
            InvalidCaseError: ``value`` names no phase.
        """
        if isinstance(value, Phase):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(p.value for p in cls)
            raise InvalidCaseError(
                f"unknown contrast phase {value!r}.", case=case, fix=f"use one of: {names}."
            ) from None


@dataclass(frozen=True, eq=False)
class SourceGeometry:
    """How a case lay on disk, so that writing it back restores the original file geometry.

    Attributes:
        affine: the on-disk voxel-to-world affine (4 x 4).
        shape: the on-disk array shape (3 ints).
        header: a copy of the original NIfTI header, or None for sources without one (DICOM).
        dtype: the on-disk image data type (e.g. int16); images are written back in it.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    header: nib.Nifti1Header | None = None
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))

    @property
    def orientation(self) -> str:
        """Axis codes of the on-disk array, e.g. ``"LPS"`` or ``"RAS"``."""
        from nibabel.orientations import aff2axcodes

        return "".join(aff2axcodes(self.affine))


@dataclass(eq=False)
class Case:
    """One CT scan with its organ, vessel, tumour and avoid masks (see module docstring).

    Masks are converted to ``bool`` and the image to ``float32`` on construction.

    Raises:
        InvalidCaseError: the image is not a finite 3-D array, a mask's shape differs from the
            image's, a mask holds values other than 0 and 1, the organ mask is empty, the affine
            is not a finite invertible RAS+ affine, or the case id / phase is malformed.
    """

    image: np.ndarray
    affine: np.ndarray
    case_id: str
    organ: np.ndarray | None = None
    vessels: np.ndarray | None = None
    tumor: np.ndarray | None = None
    avoid: np.ndarray | None = None
    phase: Phase | str = Phase.UNKNOWN
    source: SourceGeometry | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.case_id, str) or not _CASE_ID.match(self.case_id):
            raise InvalidCaseError(
                f"case id {self.case_id!r} is not a plain name.",
                fix="use letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        self.phase = Phase.parse(self.phase, case=self.case_id)
        self.image = self._checked_image(self.image)
        self.affine = self._checked_affine(self.affine)
        for name in ("organ", "vessels", "tumor", "avoid"):
            setattr(self, name, self._checked_mask(name, getattr(self, name)))
        if self.organ is not None and not self.organ.any():
            raise InvalidCaseError(
                "the organ mask is empty.",
                case=self.case_id,
                fix="check the label map's organ values against the label file, "
                "or pass organ=None for a scan without an organ label.",
            )

    # -- validation -------------------------------------------------------------------------
    def _checked_image(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3:
            raise InvalidCaseError(
                f"the image has {image.ndim} dimensions (shape {image.shape}); a CT volume has 3.",
                case=self.case_id,
                fix="pass one 3-D volume; split 4-D series and stack 2-D slices first.",
            )
        if min(image.shape) < 1:
            raise InvalidCaseError(f"the image shape {image.shape} is empty.", case=self.case_id)
        if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
            raise InvalidCaseError(
                f"the image dtype {image.dtype} is not a real number type.", case=self.case_id
            )
        image = np.ascontiguousarray(image, dtype=np.float32)
        if not np.isfinite(image).all():
            bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
            raise InvalidCaseError(
                f"the image holds {bad} NaN or infinite voxels.",
                case=self.case_id,
                fix="replace them (e.g. with -1024 HU, air) before loading.",
            )
        return image

    def _checked_affine(self, affine: np.ndarray) -> np.ndarray:
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise InvalidCaseError(
                f"the affine must be a finite 4 x 4 matrix, got shape {affine.shape}.",
                case=self.case_id,
            )
        if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
            raise InvalidCaseError("the affine is singular.", case=self.case_id)
        from nibabel.orientations import aff2axcodes

        codes = "".join(aff2axcodes(affine))
        if codes != "RAS":
            raise InvalidCaseError(
                f"the image axes run {codes}, not RAS.",
                case=self.case_id,
                fix="load files with synthtumor.load_case, which reorients to RAS, "
                "or reorient with nibabel.as_closest_canonical.",
            )
        return affine

    def _checked_mask(self, name: str, mask: np.ndarray | None) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != self.image.shape:
            raise InvalidCaseError(
                f"the {name} mask has shape {mask.shape}, the image {self.image.shape}.",
                case=self.case_id,
                fix="give masks on the image's own voxel grid.",
            )
        if mask.dtype != bool:
            if not np.isin(np.unique(mask), (0, 1)).all():
                raise InvalidCaseError(
                    f"the {name} mask holds values other than 0 and 1.",
                    case=self.case_id,
                    fix="pass a binary mask, or load multi-label files through a label map.",
                )
            mask = mask.astype(bool)
        return np.ascontiguousarray(mask)

    # -- derived geometry -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (X, Y, Z) in voxels."""
        return tuple(int(n) for n in self.image.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along X, Y, Z in mm (column norms of the affine)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL."""
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    @property
    def label(self) -> np.ndarray:
        """Output label map (uint8): 0 background, 1 organ, 2 tumour."""
        label = np.zeros(self.shape, dtype=np.uint8)
        if self.organ is not None:
            label[self.organ] = 1
        if self.tumor is not None:
            label[self.tumor] = 2
        return label

    def volume_ml(self, mask: np.ndarray | None) -> float:
        """Volume of ``mask`` in mL (0 for None)."""
        return 0.0 if mask is None else float(np.count_nonzero(mask)) * self.voxel_volume_ml

    @classmethod
    def trusted(cls, **fields: object) -> Case:
        """Build a Case from fields already known valid, skipping validation (hot paths only).

        Renderers use it for outputs derived from a validated case: re-checking every voxel
        of a 27-million-voxel volume for NaN would cost more than drawing the lesions.
        """
        case = object.__new__(cls)
        defaults = {"organ": None, "vessels": None, "tumor": None, "avoid": None,
                    "phase": Phase.UNKNOWN, "source": None}
        for name, value in {**defaults, **fields}.items():
            object.__setattr__(case, name, value)
        case.phase = Phase.parse(case.phase)
        return case

    def replace(self, **changes: object) -> Case:
        """Return a new, validated Case with some fields changed (others shared, not copied)."""
        fields = {
            "image": self.image, "affine": self.affine, "case_id": self.case_id,
            "organ": self.organ, "vessels": self.vessels, "tumor": self.tumor,
            "avoid": self.avoid, "phase": self.phase, "source": self.source,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Case has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return Case(**fields)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        sx, sy, sz = self.spacing
        return (
            f"Case({self.case_id!r}, shape={self.shape}, spacing=({sx:.2f}, {sy:.2f}, {sz:.2f}) mm, "
            f"phase={self.phase.value}, organ={self.volume_ml(self.organ):.0f} mL, "
            f"tumor={self.volume_ml(self.tumor):.1f} mL)"
        )
