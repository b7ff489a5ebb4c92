"""Checks every command applies to a scan before it draws, trains, predicts or measures: CT in
HU, a plausible voxel size, an organ the label map finds. One home, so that every command refuses
the same scans with the same message (finite values and grids are checked where the arrays are
built: :class:`synthtumor.case.Case`, :func:`synthtumor.io.case_io.load_case`,
:class:`synthtumor.io.guards.CheckScand`).
"""

from __future__ import annotations

import os

import numpy as np

from synthtumor.errors import ConfigError, InvalidCaseError

__all__ = ["check_ct_intensities", "check_not_normalised", "check_spacing", "check_organ_present",
           "spacing_limits", "CT_MIN_BELOW_HU", "SPACING_LIMITS_MM", "SPACING_ENV"]

#: CT in HU always has voxels of air (-1000 HU) or fat (-100 HU) in an abdominal field of view.
CT_MIN_BELOW_HU = -200.0
#: Voxel sizes (mm) a CT scan plausibly has; a size outside is a broken header (or metres for mm).
SPACING_LIMITS_MM = (0.1, 20.0)
#: Environment variable overriding SPACING_LIMITS_MM as "MIN,MAX" (set by the CLI's --spacing-range;
#: worker processes inherit it).
SPACING_ENV = "SYNTHTUMOR_SPACING_MM"


def check_ct_intensities(image: np.ndarray, case: str | None) -> None:
    """Refuse images that do not look like CT in HU (MR, normalised, or missing the rescale).

    Raises:
        InvalidCaseError: no voxel lies below -200 HU, where the air and fat of every abdominal
            CT lie.
    """
    lo, hi = float(image.min()), float(image.max())
    if lo > CT_MIN_BELOW_HU:
        raise InvalidCaseError(
            f"intensities run {lo:.4g}..{hi:.4g}, with nothing below {CT_MIN_BELOW_HU:.0f}; "
            "this does not look like CT in Hounsfield units (MR? normalised? DICOM rescale "
            "intercept not applied?).",
            case=case,
            fix="give the CT in HU before any intensity scaling, or pass expect_ct=False "
            "(--no-ct-check) if this really is HU.",
        )


def spacing_limits() -> tuple[float, float]:
    """The accepted voxel sizes (mm): ``SPACING_LIMITS_MM``, or ``$SYNTHTUMOR_SPACING_MM`` ("MIN,MAX").

    Raises:
        ConfigError: the variable is not two increasing positive numbers.
    """
    value = os.environ.get(SPACING_ENV)
    if not value:
        return SPACING_LIMITS_MM
    try:
        lo, hi = (float(v) for v in value.replace(" ", ",").split(",") if v)
    except ValueError:
        lo = hi = float("nan")
    if not 0 < lo < hi < float("inf"):
        raise ConfigError(f"the spacing range {value!r} is not two increasing positive sizes in mm.",
                          fix="pass e.g. --spacing-range 0.1 30.")
    return lo, hi


def check_spacing(spacing: tuple[float, ...] | np.ndarray, case: str | None) -> None:
    """Refuse a voxel size no CT scan has (a broken header, or a spacing in metres or cm).

    Raises:
        InvalidCaseError: a voxel size lies outside :func:`spacing_limits`.
    """
    lo, hi = spacing_limits()
    sizes = [float(v) for v in spacing]
    if not all(lo <= v <= hi for v in sizes):
        shown = " x ".join(f"{v:.4g}" for v in sizes)
        raise InvalidCaseError(
            f"voxel spacing {shown} mm lies outside the plausible {lo:g}-{hi:g} mm of a CT scan "
            "(a broken header, or spacing written in m or cm?); every size in mm would be wrong.",
            case=case,
            fix="repair the header's voxel size (pixdim / affine), or pass --spacing-range MIN MAX if it is real.",
        )


def check_organ_present(organ: np.ndarray | None, case: str | None, label_map: str | None = None) -> None:
    """Refuse a case whose label map names an organ that covers no voxel (a wrong label map).

    Raises:
        InvalidCaseError: ``organ`` is a mask without a voxel set.
    """
    if organ is not None and not bool(np.any(organ)):
        where = f" ({label_map})" if label_map else ""
        raise InvalidCaseError(
            f"the label map's organ values{where} mark no voxel of the label file.",
            case=case,
            fix="check the label map against the label values (synthtumor info shows them), or drop the case.",
        )


def check_not_normalised(image: np.ndarray, where: str, fix: str) -> None:
    """Refuse intensities that look already scaled (all within [-10, 10]): lesions are drawn in HU.

    Large volumes are checked on a strided sample (1/27 of the voxels), enough to tell HU from
    [0, 1] or z-scores.

    Raises:
        ConfigError: naming ``where`` and giving ``fix``.
    """
    sample = image[::3, ::3, ::3] if image.size > 1_000_000 else image
    lo, hi = float(sample.min()), float(sample.max())
    if -10.0 <= lo and hi <= 10.0:
        raise ConfigError(f"{where} got intensities in [{lo:.3g}, {hi:.3g}], which look normalised; "
                          "lesions are drawn in HU.", fix=fix)
