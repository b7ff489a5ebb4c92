"""train-seg and predict on tiny cases: end to end and cascaded, resume, CPU path, geometry."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from synthtumor import ConfigError, load_dataset
from synthtumor.cli import main
from synthtumor.commands.train_seg import run_train_seg
from synthtumor.io.case_io import save_case, write_cases_index
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.predict import run_predict

from tests.conftest import blob_case, lps_affine, write_nifti_file

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
    first = run_train_seg(cases, tmp_path / "run", config=TrainConfig(**{**TINY.to_dict(), "iterations": 2}),
                          quiet=True)
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
    [({"network": "vnet"}, "network must be one of"), ({"patch_size": [15, 16, 16]}, "divisible"),
     ({"window_hu": [300, -200]}, "low < high"), ({"tumour_oversampling": 2}, "in \\[0, 1\\]"),
     ({"iterations": 0}, "iterations must be >= 1"), ({"dims": 4}, "not a training mode"),
     ({"dims": "x"}, "2, 2.5 or 3"),
     ({"dims": 2, "patch_size": [16, 16, 16]}, "needs 2 sizes"), ({"dims": 3, "patch_size": [16, 16]}, "needs 3 sizes"),
     ({"dims": 2.5, "patch_size": [16, 16], "context_slices": 0}, "context_slices"),
     ({"dims": 2, "patch_size": [16, 16], "network": "swinunetr"}, "3-D only"),
     ({"largest_organ_component": "yes"}, "true or false"), ({"network": "dynunet"}, "three levels for dynunet")],
)
def test_bad_training_configs(change, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**{**TINY.to_dict(), **change})


@pytest.fixture(scope="module")
def lps_cases(tmp_path_factory):
    """Two blob cases written with an LPS affine (array axes run left, posterior, superior)."""
    root = tmp_path_factory.mktemp("lps")
    ids = []
    for seed in (0, 1):
        case = blob_case(spacing=(2.0, 2.0, 2.5), seed=seed, tumor=True)
        save_case(case, root)
        folder = root / case.case_id
        (folder / "vessels.nii.gz").unlink()
        affine = lps_affine(spacing=(2.0, 2.0, 2.5))
        write_nifti_file(folder / "image.nii.gz", case.image, affine, dtype=np.int16)
        write_nifti_file(folder / "label.nii.gz", case.label.astype(np.uint8), affine)
        ids.append(case.case_id)
    write_cases_index(root, ids, name="lps", description="LPS blobs")
    return root


@pytest.mark.parametrize("dims, patch", [(2, (16, 16)), (2.5, (16, 16)), (3, (16, 16, 16))])
def test_each_training_mode_trains_and_predicts_on_the_input_grid(lps_cases, tmp_path, dims, patch):
    config = TrainConfig(**{**TINY.to_dict(), "dims": dims, "patch_size": patch, "context_slices": 2,
                            "iterations": 2, "batch_size": 2, "largest_organ_component": True})
    run = run_train_seg(lps_cases, tmp_path / "run", config=config, quiet=True)
    meta = json.loads((run / "model" / "model.json").read_text())
    assert meta["config"]["dims"] == dims and meta["steps"] == 2
    written = run_predict(run, lps_cases, tmp_path / "pred", quiet=True)
    for path in written:
        source = nib.load(str(lps_cases / path.name.replace(".nii.gz", "") / "image.nii.gz"))
        predicted = nib.load(str(path))
        assert predicted.shape == source.shape
        np.testing.assert_allclose(predicted.affine, source.affine, atol=1e-5)
        assert nib.aff2axcodes(predicted.affine) == ("L", "P", "S")
        assert set(np.unique(np.asarray(predicted.dataobj))) <= {0, 1, 2}


def test_slice_prediction_uses_the_end_slices_as_their_own_neighbours():
    from synthtumor.train_seg.predict import segment_slices

    seen = []

    class Record(torch.nn.Module):
        def forward(self, x):
            seen.append(x[:, :, 0, 0].clone())  # (batch, channels): the slab's slice values
            return torch.zeros(x.shape[0], 3, *x.shape[2:])

    depth = 6
    image = torch.arange(depth, dtype=torch.float32).expand(1, 8, 8, depth).clone()  # value = slice index
    labels = segment_slices(Record(), image, (8, 8), context=2, slices_per_batch=4)
    assert labels.shape == (8, 8, depth)
    slabs = torch.cat(seen).tolist()
    assert slabs[0] == [0, 0, 0, 1, 2]  # the first slice
    assert slabs[-1] == [3, 4, 5, 5, 5]  # the last slice
    assert len(slabs) == depth


def test_keep_largest_organ_drops_islands_and_their_tumour():
    from synthtumor.train_seg.predict import keep_largest_organ

    label = np.zeros((20, 20, 10), np.uint8)
    label[2:12, 2:12, 2:8] = 1
    label[5:7, 5:7, 4:6] = 2
    label[15:18, 15:18, 2:4] = 2  # an island of tumour outside the organ
    kept = keep_largest_organ(label)
    assert kept[16, 16, 3] == 0 and kept[6, 6, 5] == 2 and kept[3, 3, 3] == 1
    assert np.array_equal(keep_largest_organ(np.zeros_like(label)), np.zeros_like(label))


@pytest.mark.parametrize("network", ["unet", "dynunet", "segresnet"])
@pytest.mark.parametrize("dims", [2, 2.5])
def test_2d_networks_take_the_slab_channels(network, dims):
    from synthtumor.train_seg.networks import build_network

    config = TrainConfig(network=network, dims=dims, context_slices=2, channels=(8, 16, 32), patch_size=(32, 32))
    model = build_network(config, 3).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, config.in_channels, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert config.in_channels == (5 if dims == 2.5 else 1)


def test_dynunet_blocks_are_residual_unless_the_config_says_plain():
    from monai.networks.blocks.dynunet_block import UnetBasicBlock, UnetResBlock

    from synthtumor.train_seg.networks import build_network

    def kinds(config):
        return {type(m) for m in build_network(config, 3).modules()}

    saved = TrainConfig(network="dynunet", dims=2.5, channels=(8, 16, 32), patch_size=(32, 32)).to_dict()
    saved.pop("residual_blocks")  # a model.json written before the key existed
    assert UnetResBlock in kinds(TrainConfig.from_dict(saved))
    plain = kinds(TrainConfig.load("tiny_cpu"))
    assert UnetBasicBlock in plain and UnetResBlock not in plain


def test_dynunet_weights_with_shared_tensors_save_resume_and_predict(lps_cases, tmp_path):
    # DynUNet's skip layers alias its blocks: a plain safetensors save_file refused the state dict
    config = TrainConfig(**{**TINY.to_dict(), "network": "dynunet", "channels": (4, 8, 16), "dims": 2,
                            "patch_size": (16, 16), "iterations": 2, "checkpoint_every": 1})
    run = run_train_seg(lps_cases, tmp_path / "run", config=config, quiet=True)
    (run / "model" / "model.safetensors").unlink()  # as if killed after the last checkpoint
    run_train_seg(lps_cases, tmp_path / "run", config=config, resume=True, quiet=True)
    written = run_predict(run, lps_cases, tmp_path / "pred", quiet=True)
    assert len(written) == 2
