"""Shared test fixtures: small synthetic CT volumes and the shared real scan."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SHARED_EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg_example"


@pytest.fixture
def totalseg_example() -> Path:
    """The real TotalSegmentator example CT folder, or skip where ../shared is absent."""
    if not (SHARED_EXAMPLE / "ct.nii.gz").is_file():
        pytest.skip(f"the shared real CT is absent ({SHARED_EXAMPLE}); it lives in ../shared/data")
    return SHARED_EXAMPLE


def toy_volume(shape=(24, 20, 12), seed=0):
    """A small CT-like volume in HU (air around a soft-tissue block) and a 0/1/2 label."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, -1000.0, dtype=np.float32)
    image[3:-3, 3:-3, 1:-1] = 40.0 + rng.normal(0, 10, size=(shape[0] - 6, shape[1] - 6, shape[2] - 2))
    image = np.rint(image).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    label[6:-6, 6:-6, 3:-3] = 1
    label[9:12, 9:12, 5:7] = 2
    return image, label


def lps_affine(spacing=(0.7, 0.7, 5.0), origin=(120.0, -80.0, -300.0)):
    """A typical DICOM-derived affine: array axes run L, P, S."""
    return np.array(
        [
            [-spacing[0], 0, 0, origin[0]],
            [0, -spacing[1], 0, origin[1]],
            [0, 0, spacing[2], origin[2]],
            [0, 0, 0, 1.0],
        ]
    )


def write_nifti_file(path: Path, data: np.ndarray, affine: np.ndarray, dtype=None) -> Path:
    img = nib.Nifti1Image(data.astype(dtype or data.dtype), affine)
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    nib.save(img, str(path))
    return path
