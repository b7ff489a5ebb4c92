"""PNG previews: axial, coronal and sagittal slices of a case with mask outlines.

People would rather look than read: every command that writes scans can write one of these per
case. Slices are shown in radiological convention (patient's right on the image's left,
anterior up on axial slices, superior up on coronal and sagittal ones), at the true aspect
ratio of the voxel spacing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from synthtumor.case import Case  # noqa: E402
from synthtumor.io.workdir import temp_path  # noqa: E402

__all__ = ["save_case_preview", "OUTLINE_COLOURS", "DEFAULT_WINDOW_HU"]

#: Soft-tissue window (HU) suited to the liver.
DEFAULT_WINDOW_HU = (-160.0, 240.0)
OUTLINE_COLOURS = {"organ": "#39d353", "vessels": "#2f9bff", "tumor": "#ff3b30", "avoid": "#ffcc00",
                   "new tumour": "#ff40ff"}


def _centre_voxel(case: Case, centre_mm: Sequence[float] | None) -> tuple[int, int, int]:
    if centre_mm is not None:
        ijk = np.linalg.solve(case.affine, np.append(np.asarray(centre_mm, float), 1.0))[:3]
    else:
        mask = case.tumor if case.tumor is not None and case.tumor.any() else case.organ
        ijk = np.argwhere(mask).mean(axis=0) if mask is not None else np.array(case.shape) / 2
    clipped = np.clip(np.rint(ijk), 0, np.array(case.shape) - 1).astype(int)
    return tuple(int(v) for v in clipped)  # type: ignore[return-value]


def _planes(case: Case, ijk: tuple[int, int, int]):
    """(title, slicer, aspect) for axial, coronal, sagittal; arrays shown as rows x cols."""
    sx, sy, sz = case.spacing
    i, j, k = ijk
    # axial: rows = anterior (top) .. posterior, cols = right (left of image) .. left
    yield "axial", (lambda a: a[::-1, ::-1, k].T), sy / sx, f"z={k}"
    # coronal: rows = superior .. inferior, cols = right .. left
    yield "coronal", (lambda a: a[::-1, j, ::-1].T), sz / sx, f"y={j}"
    # sagittal: rows = superior .. inferior, cols = anterior .. posterior
    yield "sagittal", (lambda a: a[i, ::-1, ::-1].T), sz / sy, f"x={i}"


def save_case_preview(
    case: Case,
    path: str | os.PathLike,
    *,
    centre_mm: Sequence[float] | None = None,
    window: tuple[float, float] = DEFAULT_WINDOW_HU,
    title: str | None = None,
    extra_masks: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a PNG with three orthogonal slices through one point, masks outlined.

    Args:
        case: the case to show.
        path: the PNG file to write (written to a temporary name, then renamed).
        centre_mm: world RAS point (mm) the slices pass through; default the centroid of the
            tumours, else of the organ, else the volume centre.
        window: display window (low, high) in HU.
        title: figure title; default the case id, phase and spacing.
        extra_masks: further boolean masks to outline, by name (colours cycle).

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ijk = _centre_voxel(case, centre_mm)
    masks = {name: getattr(case, name) for name in ("organ", "vessels", "tumor", "avoid")}
    masks.update(extra_masks or {})
    masks = {k: v for k, v in masks.items() if v is not None and v.any()}
    spare = iter(plt.get_cmap("tab10").colors)
    colours = {name: OUTLINE_COLOURS.get(name) or next(spare) for name in masks}

    fig, axes = plt.subplots(1, 3, figsize=(13.5, 5.0), facecolor="black")
    for ax, (name, cut, aspect, where) in zip(axes, _planes(case, ijk)):
        ax.imshow(cut(case.image), cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect,
                  interpolation="nearest")
        for mask_name, mask in masks.items():
            plane = cut(mask).astype(np.float32)
            if plane.any():
                ax.contour(plane, levels=[0.5], colors=[colours[mask_name]], linewidths=0.9)
        ax.set_title(f"{name} ({where})", color="white", fontsize=10)
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=colours[n], label=n) for n in masks]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                   labelcolor="white", fontsize=9)
    sx, sy, sz = case.spacing
    fig.suptitle(
        title or f"{case.case_id}  phase={case.phase.value}  spacing={sx:.2f}x{sy:.2f}x{sz:.2f} mm  "
        f"window {window[0]:.0f}..{window[1]:.0f} HU",
        color="white", fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    tmp = temp_path(path, ".png")
    try:
        fig.savefig(tmp, dpi=90, facecolor="black")
        plt.close(fig)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
