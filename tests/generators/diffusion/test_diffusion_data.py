"""Training cubes: geometry, scaling, patient-level split, and a clear error without tumours."""

from __future__ import annotations

import numpy as np
import pytest

from synthtumor import load_dataset
from synthtumor.commands.train_diffusion import run_train_diffusion
from synthtumor.generators.diffusion.config import DiffusionConfig
from synthtumor.generators.diffusion.data import (
    NoLesionsError,
    build_training_cubes,
    cube_spacing_mm,
    cubes_from_case,
    hu_to_unit,
    split_case_ids,
    unit_to_hu,
)
from synthtumor.io.case_io import save_case, write_cases_index

from tests.conftest import blob_case

CONFIG = DiffusionConfig.from_preset("tiny_cpu")


def write_blobs(root, seeds, tumor=True):
    ids = []
    for seed in seeds:
        case = blob_case(spacing=(2.0, 2.0, 2.5), seed=seed, tumor=tumor)
        save_case(case, root)
        ids.append(case.case_id)
    write_cases_index(root, ids, name="blobs", description="synthetic test blobs")
    return root


def test_cube_holds_the_lesion_scaled_and_masked():
    case = blob_case(spacing=(2.0, 2.0, 2.5), tumor=True)
    case.image[case.tumor] -= 60.0  # a hypo-attenuating lesion
    cubes = cubes_from_case(case, CONFIG)
    n = CONFIG.data.cube_voxels
    assert len(cubes) == 1 and cubes.target.shape == (1, n, n, n) and cubes.case_ids == ["blob0"]
    assert cubes.target.min() >= -1 and cubes.target.max() <= 1
    centre = (n // 2,) * 3
    assert cubes.mask[0][centre] and not cubes.mask[0][0, 0, 0]
    # the dilated mask covers a ball of radius ~ 8 mm + margin 3 mm at 2 mm spacing
    volume = cubes.mask[0].sum() * 8.0 / 1000.0
    assert 4 / 3 * np.pi * 0.9**3 < volume < 4 / 3 * np.pi * 1.3**3
    assert (cubes.context[0][cubes.mask[0]] == 0).all()
    np.testing.assert_array_equal(cubes.context[0][~cubes.mask[0]], cubes.target[0][~cubes.mask[0]])
    assert cubes.target[0][centre] < cubes.target[0][~cubes.mask[0]].mean()


def test_window_scaling_round_trips_and_large_lesions_get_coarser_cubes():
    hu = np.array([-1000.0, -200.0, 50.0, 300.0, 900.0], np.float32)
    np.testing.assert_allclose(unit_to_hu(hu_to_unit(hu, (-200, 300)), (-200, 300)), [-200, -200, 50, 300, 300],
                               atol=1e-4)
    assert cube_spacing_mm(4.0, CONFIG.data) == CONFIG.data.spacing_mm
    big = cube_spacing_mm(30.0, CONFIG.data)
    assert big > CONFIG.data.spacing_mm and 2 * (30 + 3) <= big * CONFIG.data.cube_voxels * CONFIG.data.max_fill + 1e-9


def test_split_is_by_patient_and_reproducible():
    ids = [f"case{i}" for i in range(10)] * 3  # three lesions per scan
    train, val = split_case_ids(ids, 0.2, np.random.default_rng(5))
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(ids)
    assert (train, val) == split_case_ids(ids, 0.2, np.random.default_rng(5))
    assert split_case_ids(["a"], 0.5, np.random.default_rng(0)) == (["a"], [])


def test_dataset_cubes_never_split_a_scan(tmp_path):
    root = write_blobs(tmp_path / "data", [0, 1, 2, 3])
    train, val = build_training_cubes(load_dataset(root), CONFIG, quiet=True)
    assert len(train) == 3 and len(val) == 1
    assert not set(train.case_ids) & set(val.case_ids)


def test_dataset_without_tumours_is_a_clear_error(tmp_path):
    root = write_blobs(tmp_path / "healthy", [0, 1], tumor=False)
    with pytest.raises(NoLesionsError) as info:
        run_train_diffusion(root, tmp_path / "run", config="tiny_cpu", quiet=True)
    message = str(info.value)
    assert str(root) in message and "no tumour" in message and "Fix:" in message and "--label-map" in message
