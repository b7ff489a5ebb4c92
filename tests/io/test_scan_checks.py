"""Scan checks every command applies: a plausible voxel size and an organ the label map finds
(issue 15 item 2; finite values, HU and grids are tested in test_case_io and test_guards).

Each command test first runs what went through before: a scan with 50 mm slices (a header in cm,
or a broken one) was evaluated and used for training with exit 0, and drew no lesion in
``generate``; a label map whose organ marks no voxel was evaluated with exit 0.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import yaml

from synthtumor.cli import main

from tests.conftest import blob_dataset


def _stretch_slices(root, z_mm):
    for path in sorted(root.glob("*/*.nii.gz")):
        img = nib.load(str(path))
        affine = img.affine.copy()
        affine[2, 2] = z_mm
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine, img.header), str(path))
    return root


@pytest.fixture(scope="module")
def coarse(tmp_path_factory):
    return _stretch_slices(blob_dataset(tmp_path_factory.mktemp("scan") / "coarse", n=2), 50.0)


@pytest.mark.parametrize("argv", [
    ["generate", "--input", "{data}", "--out", "{out}"],
    ["evaluate", "--pred", "{data}", "--ref", "{data}", "--out", "{out}"],
    ["realism", "--real", "{data}", "--synthetic", "{data}", "--out", "{out}"],
    ["info", "{data}"],
])
def test_a_50_mm_spacing_is_refused_naming_the_case(argv, coarse, tmp_path, capsys):
    argv = [a.format(data=coarse, out=tmp_path / "out") for a in argv]
    assert main(argv + (["--quiet"] if argv[0] != "info" else [])) == 2
    err = capsys.readouterr().err
    assert "case 'blob0': voxel spacing 2 x 2 x 50 mm lies outside the plausible 0.1-20 mm" in err
    assert "--spacing-range" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("out/**/*.nii.gz")) and not list(tmp_path.glob("out/*.csv"))


def test_spacing_range_lets_a_real_coarse_scan_through(coarse, capsys):
    assert main(["info", str(coarse), "--spacing-range", "0.1", "60", "--json"]) == 0
    assert '"spacing": [2.0, 2.0, 50.0]' in capsys.readouterr().out


def test_training_refuses_a_50_mm_spacing(coarse, tmp_path):
    from synthtumor.errors import InvalidCaseError
    from synthtumor.train_seg.config import TrainConfig
    from synthtumor.train_seg.trainer import train_stage

    config = TrainConfig(network="unet", dims=2, channels=(4, 8), spacing_mm=(3.0, 3.0, 3.0), patch_size=(16, 16),
                         batch_size=2, iterations=2, checkpoint_every=2, num_workers=0, mixed_precision="no")
    items = [{"image": str(coarse / "blob0" / "image.nii.gz"), "label": str(coarse / "blob0" / "label.nii.gz"),
              "case_id": "blob0"}]
    with pytest.raises(InvalidCaseError, match="voxel spacing 2 x 2 x 50 mm"):
        train_stage(config, items, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_label_map_whose_organ_marks_nothing_is_refused(tmp_path, capsys):
    data = blob_dataset(tmp_path / "data", n=1)
    wrong = tmp_path / "wrong.yaml"  # organ 3 and tumour 4 (the organ includes its tumours); the file holds 0, 1, 2
    wrong.write_text(yaml.safe_dump({"organ": [3], "tumor": [4], "others": "background"}))
    for argv in (["evaluate", "--pred", str(data), "--ref", str(data), "--out", str(tmp_path / "e")],
                 ["generate", "--input", str(data), "--out", str(tmp_path / "g")]):
        assert main(argv + ["--label-map", str(wrong), "--quiet"]) == 2
        err = capsys.readouterr().err
        # evaluate reads labels only (this check); generate's Case refuses an empty organ mask first
        assert ("case 'blob0': the label map's organ values (wrong) mark no voxel" in err
                or (argv[0] == "generate" and "case 'blob0': the organ mask is empty" in err)), err


def test_spacing_limits_read_the_override(monkeypatch):
    from synthtumor.errors import ConfigError, InvalidCaseError
    from synthtumor.io.scan_checks import SPACING_ENV, check_spacing, spacing_limits

    assert spacing_limits() == (0.1, 20.0)
    check_spacing((0.7, 0.7, 20.0), "edge")
    with pytest.raises(InvalidCaseError, match="0.05 x 1 x 1 mm"):
        check_spacing((0.05, 1.0, 1.0), "thin")
    monkeypatch.setenv(SPACING_ENV, "0.01,60")
    check_spacing((0.05, 1.0, 50.0), "thin")
    for bad in ("5,1", "abc", "-1,2", "1"):
        monkeypatch.setenv(SPACING_ENV, bad)
        with pytest.raises(ConfigError, match="spacing range"):
            spacing_limits()


def test_train_seg_refuses_a_bad_validation_scan_before_training(coarse, tmp_path, capsys):
    data = blob_dataset(tmp_path / "data", n=1)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"network": "unet", "dims": 2, "channels": [4, 8], "spacing_mm": [3.0, 3.0, 3.0],
                                      "patch_size": [16, 16], "batch_size": 2, "iterations": 2, "checkpoint_every": 2,
                                      "num_workers": 0, "mixed_precision": "no"}))
    assert main(["train-seg", "--train", str(data), "--val", str(coarse), "--out", str(tmp_path / "run"),
                 "--config", str(config), "--quiet"]) == 2
    assert "voxel spacing 2 x 2 x 50 mm" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before a single step


def test_a_reversed_spacing_range_is_refused_before_any_work(tmp_path, capsys):
    data = blob_dataset(tmp_path / "data", n=1)
    assert main(["generate", "--input", str(data), "--out", str(tmp_path / "out"), "--spacing-range", "5", "1",
                 "--quiet"]) == 2
    assert "error: the spacing range '5.0,1.0' is not two increasing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
