"""TorchIO transform: same invariants as the MONAI one, reproducible under torch.manual_seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

tio = pytest.importorskip("torchio", reason="TorchIO is not installed (pip install -e '.[torchio]')")

from synthtumor import ConfigError, LabelMap  # noqa: E402
from synthtumor.generators import HeuristicGenerator  # noqa: E402
from synthtumor.transforms_torchio import LesionSynthesis, RandomLesionSynthesis  # noqa: E402

from tests.conftest import blob_case, write_nifti_file  # noqa: E402

LABEL_MAP = LabelMap(organ=(1, 3), vessels=(3,), tumor=(2,))


@pytest.fixture(scope="module")
def subject_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tio")
    case = blob_case(spacing=(1.5, 1.5, 2.5), tumor=True)
    label = np.where(case.organ, 1, 0)
    label[case.vessels] = 3
    label[case.tumor] = 2
    write_nifti_file(root / "ct.nii.gz", case.image, case.affine, np.int16)
    write_nifti_file(root / "seg.nii.gz", label, case.affine, np.uint8)
    return root / "ct.nii.gz", root / "seg.nii.gz"


def subject(files):
    return tio.Subject(ct=tio.ScalarImage(files[0]), seg=tio.LabelMap(files[1]))


def transform():
    gen = HeuristicGenerator.from_preset("liver_metastasis", counts={"small": [1, 2], "tiny": [1, 1]})
    return RandomLesionSynthesis(gen, label_map=LABEL_MAP, phase="portal")


def test_invariants_and_reproducibility(subject_files):
    original = subject(subject_files)
    original.load()
    old_tumour = original["seg"].data == 2
    torch.manual_seed(0)
    a = transform()(subject(subject_files))
    torch.manual_seed(0)
    b = transform()(subject(subject_files))
    torch.manual_seed(1)
    c = transform()(subject(subject_files))
    assert torch.equal(a["ct"].data, b["ct"].data) and torch.equal(a["seg"].data, b["seg"].data)
    assert not torch.equal(a["seg"].data, c["seg"].data)
    new = (a["seg"].data == 2) & ~old_tumour
    assert new.any()
    # existing tumours untouched, new ones inside the organ, affine kept
    assert torch.equal(a["ct"].data[old_tumour], original["ct"].data[old_tumour].to(a["ct"].data.dtype))
    assert ((original["seg"].data[new] == 1)).all()
    np.testing.assert_array_equal(a["ct"].affine, original["ct"].affine)


def test_history_replays_the_same_lesions(subject_files):
    torch.manual_seed(3)
    out = transform()(subject(subject_files))
    twin = out.history[-1]
    assert isinstance(twin, LesionSynthesis) and twin.specs
    again = LesionSynthesis(twin.specs, label_map=LABEL_MAP, phase="portal")(subject(subject_files))
    assert torch.equal(again["seg"].data, out["seg"].data)
    assert torch.allclose(again["ct"].data, out["ct"].data)


def test_probability_zero_and_normalised_input(subject_files):
    gen = HeuristicGenerator.from_preset("liver_cyst")
    plain = subject(subject_files)
    plain.load()
    out = RandomLesionSynthesis(gen, label_map=LABEL_MAP, p=0)(subject(subject_files))
    assert torch.equal(out["ct"].data, plain["ct"].data)
    scaled = tio.RescaleIntensity(out_min_max=(0, 1))(subject(subject_files))
    with pytest.raises(ConfigError, match="normalised"):
        RandomLesionSynthesis(gen, label_map=LABEL_MAP)(scaled)
