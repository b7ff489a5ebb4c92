"""Guards every command applies before it writes or trains: outputs apart from inputs and from
other data (:mod:`synthtumor.io.output_guard`, re-exported here), scans that are CT in HU with
finite values, a plausible spacing and one grid (in a MONAI pipeline), weights that are finite.

One home for each rule, so that every command refuses the same things with the same message.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform

from synthtumor.errors import ConfigError, InvalidCaseError
from synthtumor.io.output_guard import check_output_apart, check_output_free, only_names
from synthtumor.io.scan_checks import check_ct_intensities, check_spacing

__all__ = ["check_output_apart", "check_output_free", "only_names", "CheckScand", "check_finite_weights"]

#: Largest distance (mm) between the image's and the label's voxel grids accepted as one grid.
GRID_TOLERANCE_MM = 0.01


class CheckScand(MapTransform):
    """Refuse, with the case's id, a scan that would train or predict on garbage: non-finite
    voxels, intensities that are not CT in HU (nothing below -200 HU), an implausible voxel size
    (:func:`synthtumor.io.scan_checks.check_spacing`), or a label on another grid than the image
    (shape, or voxel positions more than ``GRID_TOLERANCE_MM`` apart).

    Args:
        keys: the image key, then optionally the label key.
    """

    def __init__(self, keys: tuple[str, ...] = ("image", "label")) -> None:
        super().__init__(keys, allow_missing_keys=True)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        case = str(d.get("case_id", "scan"))
        image_key = self.keys[0]
        image = torch.as_tensor(d[image_key])
        if not bool(torch.isfinite(image).all()):
            bad = int((~torch.isfinite(image)).sum())
            raise InvalidCaseError(f"the image holds {bad} NaN or infinite voxel(s).", case=case,
                                   fix="repair or drop this scan; a single NaN makes the training loss NaN.")
        check_ct_intensities(image.cpu().numpy(), case)
        affine = getattr(d[image_key], "affine", None)
        if affine is not None:
            check_spacing(np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0), case)
        if len(self.keys) > 1 and self.keys[1] in d:
            label = d[self.keys[1]]
            if tuple(label.shape[1:]) != tuple(image.shape[1:]):
                raise InvalidCaseError(f"the label's shape {tuple(label.shape[1:])} is not the image's "
                                       f"{tuple(image.shape[1:])}.", case=case,
                                       fix="give the label on the image's voxel grid.")
            gap = _grid_gap_mm(d[image_key], label, tuple(image.shape[1:]))
            if gap > GRID_TOLERANCE_MM:
                raise InvalidCaseError(f"the label's voxel grid lies up to {gap:.3g} mm from the image's.", case=case,
                                       fix="resample the label onto the image's grid (same affine).")
        return d


def _grid_gap_mm(image: Any, label: Any, shape: tuple[int, ...]) -> float:
    """Largest distance (mm) between the two grids' positions of the volume's corner voxels."""
    a, b = getattr(image, "affine", None), getattr(label, "affine", None)
    if a is None or b is None:
        return 0.0
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    corners = np.array([[i, j, k, 1.0]
                        for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    return float(np.abs((corners @ a.T - corners @ b.T)[:, :3]).max())


def check_finite_weights(weights: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Refuse a model whose weights hold NaN or infinite values (a training that diverged).

    Raises:
        ConfigError: naming the file and the first bad tensor.
    """
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ConfigError(f"{path} holds non-finite weights ({name}); the training that wrote it diverged.",
                              fix="retrain (check the scans for NaN voxels, or lower train.lr).")
