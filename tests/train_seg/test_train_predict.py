"""train-seg and predict on tiny cases: end to end and cascaded, resume, CPU path, geometry."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from synthtumor import ConfigError, load_dataset
from synthtumor.cli import main
from synthtumor.commands.train_seg import run_train_seg
from synthtumor.io.case_io import save_case, write_cases_index
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.predict import run_predict

from tests.conftest import blob_case

TINY = TrainConfig(network="unet", channels=(4, 8), spacing_mm=(3.0, 3.0, 3.0), patch_size=(16, 16, 16),
                   batch_size=1, iterations=3, checkpoint_every=2, num_workers=0, mixed_precision="no")


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    ids = []
    for seed in (0, 1):
        case = blob_case(spacing=(2.0, 2.0, 2.5), seed=seed, tumor=True)
        save_case(case, root)
        ids.append(case.case_id)
    write_cases_index(root, ids, name="seg", description="test blobs")
    return root


@pytest.mark.parametrize("strategy", ["end_to_end", "cascaded"])
def test_train_then_predict_on_the_scan_grid(cases, tmp_path, strategy):
    config = TrainConfig(**{**TINY.to_dict(), "strategy": strategy})
    run = run_train_seg(cases, tmp_path / "run", config=config, quiet=True)
    stages = ["model"] if strategy == "end_to_end" else ["organ", "tumour"]
    for stage in stages:
        log = (run / stage / "log.csv").read_text().splitlines()
        assert log[0] == "step,loss,lr,seconds" and len(log) == 4
        assert (run / stage / "model.safetensors").is_file()
    written = run_predict(run, cases, tmp_path / "pred", quiet=True)
    reference = load_dataset(cases)
    for path, case in zip(written, reference):
        img = nib.load(str(path))
        assert img.shape == case.shape
        np.testing.assert_allclose(img.affine, nib.load(str(cases / case.case_id / "label.nii.gz")).affine, atol=1e-5)
        assert set(np.unique(np.asarray(img.dataobj))) <= {0, 1, 2}


def test_resume_continues_from_the_checkpoint(cases, tmp_path):
    config = TrainConfig(**{**TINY.to_dict(), "iterations": 4})
    first = run_train_seg(cases, tmp_path / "run", config=TrainConfig(**{**TINY.to_dict(), "iterations": 2}), quiet=True)
    (first / "model" / "model.safetensors").unlink()  # as if killed after the step-2 checkpoint
    with pytest.raises(ConfigError, match="already holds a run"):
        run_train_seg(cases, tmp_path / "run", config=config, quiet=True)
    run_train_seg(cases, tmp_path / "run", config=config, resume=True, quiet=True)
    steps = [int(line.split(",")[0]) for line in (first / "model" / "log.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]
    assert json.loads((first / "model" / "model.json").read_text())["steps"] == 4


def test_synthetic_arm_cli_and_validation_metrics(cases, tmp_path):
    config_path = tmp_path / "tiny.yaml"
    import yaml

    config_path.write_text(yaml.safe_dump(TINY.to_dict()))
    status = main(["train-seg", "--train", str(cases), "--val", str(cases), "--config", str(config_path),
                   "--out", str(tmp_path / "syn"), "--synthetic", "liver_metastasis", "--max-steps", "2",
                   "--phase", "portal", "--quiet"])
    assert status == 0
    assert (tmp_path / "syn" / "val_metrics" / "metrics.csv").is_file()
    assert json.loads((tmp_path / "syn" / "run.json").read_text())["synthetic_preset"] == "liver_metastasis"


@pytest.mark.parametrize(
    "change, words",
    [({"network": "vnet"}, "unknown"), ({"patch_size": [15, 16, 16]}, "divisible"),
     ({"window_hu": [300, -200]}, "low < high"), ({"tumour_oversampling": 2}, "in \\[0, 1\\]"),
     ({"iterations": 0}, "at least 1")],
)
def test_bad_training_configs(change, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**{**TINY.to_dict(), **change})
