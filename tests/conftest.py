"""Shared test fixtures: small synthetic CT volumes and the shared real scan."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SHARED_EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "totalseg_example"


@pytest.fixture(scope="session")
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


def blob_case(spacing=(1.0, 1.0, 1.0), size_mm=(150.0, 130.0, 120.0), phase="portal", seed=0,
              noise=12.0, vessels=True, tumor=False, avoid=False):
    """A liver-like ellipsoid (radii ~55 x 45 x 45 mm) with two straight vessels, in HU.

    The parenchyma sits at 100 HU with Gaussian-smoothed noise of std ``noise``; vessels are
    170 HU tubes of radius 4 mm; background 40 HU inside a body, -1000 HU air at the border.
    """
    from scipy import ndimage as ndi

    from synthtumor import Case

    rng = np.random.default_rng(seed)
    spacing = np.asarray(spacing, float)
    shape = tuple(int(round(s / d)) for s, d in zip(size_mm, spacing))
    grids = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * d for n, d in zip(shape, spacing)], indexing="ij")
    x, y, z = grids
    organ = (x / 55) ** 2 + (y / 45) ** 2 + (z / 45) ** 2 <= 1
    vessel = np.zeros(shape, bool)
    if vessels:
        vessel |= (y - 5) ** 2 + (z + 10) ** 2 <= 16  # along x
        vessel |= (x + 15) ** 2 + (y + 10) ** 2 <= 16  # along z
        vessel &= organ
    image = np.full(shape, 40.0, np.float32)
    white = rng.standard_normal(shape).astype(np.float32)
    smooth = ndi.gaussian_filter(white, 0.8 / spacing)
    smooth *= noise / smooth.std()
    image[organ] = 100.0
    image[vessel] = 170.0
    image += smooth
    image[:2] = -1000.0
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.array(shape) - 1) / 2 * spacing
    kw = {}
    if tumor:
        t = (((x - 25) / 8) ** 2 + (y / 8) ** 2 + (z / 8) ** 2) <= 1
        kw["tumor"] = t & organ & ~vessel
    if avoid:
        kw["avoid"] = ((x + 25) ** 2 + (y - 20) ** 2 + z**2) <= 64
    return Case(image=image, affine=affine, case_id=f"blob{seed}", organ=organ,
                vessels=vessel if vessels else None, phase=phase, **kw)


def blob_dataset(root: Path, n: int = 3) -> Path:
    """A case-folder dataset of ``n`` blob cases with a tumour at 2 x 2 x 2.5 mm (for diffusion training)."""
    from synthtumor.io.case_io import save_case, write_cases_index

    ids = []
    for seed in range(n):
        case = blob_case(spacing=(2.0, 2.0, 2.5), seed=seed, tumor=True)
        save_case(case, root)
        ids.append(case.case_id)
    write_cases_index(root, ids, name="blobs", description="synthetic test blobs with a tumour")
    return root
