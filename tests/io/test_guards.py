"""Guards: no command writes into its inputs, trains on garbage or predicts with a diverged model.

Each test first runs the command a user ran when the issue was filed (issue 15), which exited 0
and lost or corrupted data before these guards.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from synthtumor.cli import main
from synthtumor.errors import ConfigError, InvalidCaseError, TrainingError
from synthtumor.io.case_io import save_case
from synthtumor.io.guards import CheckScand, check_output_apart
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.trainer import train_stage

from tests.conftest import blob_case, blob_dataset

TINY = TrainConfig(network="unet", dims=2, channels=(4, 8), spacing_mm=(3.0, 3.0, 3.0), patch_size=(16, 16),
                   batch_size=2, iterations=2, checkpoint_every=2, num_workers=0, mixed_precision="no")


def _dataset(root):
    root.mkdir()
    return blob_dataset(root, n=2)


def _config_file(tmp_path, **changes):
    import yaml

    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({**TINY.to_dict(), **changes}))
    return str(path)


def test_output_apart_refuses_the_input_inside_and_around_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for out in (data, data / "preds", tmp_path):
        with pytest.raises(ConfigError, match="never writes into its inputs"):
            check_output_apart(out, {"input": data})
    check_output_apart(tmp_path / "elsewhere", {"input": data, "model": None})


def test_predict_into_its_input_is_refused_and_the_dataset_kept(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    before = (data / "dataset.json").read_bytes()
    assert main(["train-seg", "--train", str(data), "--out", str(tmp_path / "run"), "--config",
                 _config_file(tmp_path), "--quiet"]) == 0
    assert main(["predict", "--model", str(tmp_path / "run"), "--input", str(data), "--out", str(data),
                 "--quiet"]) == 2
    assert "never writes into its inputs" in capsys.readouterr().err
    assert (data / "dataset.json").read_bytes() == before


def test_train_seg_into_its_training_data_is_refused(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    assert main(["train-seg", "--train", str(data), "--out", str(data), "--config", _config_file(tmp_path),
                 "--quiet"]) == 2
    assert "overlaps the training data" in capsys.readouterr().err
    assert not (data / "resolved_config.yaml").exists()


def _items(root, image=None, label=None):
    case = blob_case(spacing=(2.0, 2.0, 2.5), seed=0, tumor=True)
    save_case(case, root)
    folder = root / case.case_id
    affine = nib.load(str(folder / "image.nii.gz")).affine
    if image is not None:
        nib.save(nib.Nifti1Image(image(case.image.copy()).astype(np.float32), affine), str(folder / "image.nii.gz"))
    if label is not None:
        data, new_affine = label(case.label.astype(np.uint8), affine)
        nib.save(nib.Nifti1Image(data, new_affine), str(folder / "label.nii.gz"))
    return [{"image": str(folder / "image.nii.gz"), "label": str(folder / "label.nii.gz"), "case_id": case.case_id}]


def _nan(image):
    image[10, 10, 10] = np.nan
    return image


@pytest.mark.parametrize("image, label, words", [
    (_nan, None, "NaN or infinite"),
    (lambda im: (im + 1000) / 2000, None, "does not look like CT"),
    (None, lambda lab, aff: (lab[:-1], aff), "shape"),
    (None, lambda lab, aff: (lab, aff @ np.diag([1, 1, 1.0, 1]) + np.array([[0, 0, 0, 5.0]] * 3 + [[0, 0, 0, 0]])),
     "voxel grid"),
])
def test_training_refuses_scans_that_would_train_on_garbage(tmp_path, image, label, words):
    items = _items(tmp_path / "data", image, label)
    with pytest.raises(InvalidCaseError, match=words):
        train_stage(TINY, items, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_check_scan_passes_a_good_scan():
    image = torch.full((1, 8, 8, 4), 40.0)
    image[0, 0] = -1000.0
    out = CheckScand(("image",))({"image": image, "case_id": "ok"})
    assert out["image"] is image


def test_a_loss_that_becomes_nan_stops_training_naming_the_step(tmp_path, monkeypatch):
    from synthtumor.train_seg import trainer

    real_loss, calls = trainer._loss, []

    def diverging(outputs, label, loss_fn):  # the loss turns NaN at the second step
        calls.append(1)
        value = real_loss(outputs, label, loss_fn)
        return value * float("nan") if len(calls) >= 2 else value

    monkeypatch.setattr(trainer, "_loss", diverging)
    items = _items(tmp_path / "data")
    config = TrainConfig(**{**TINY.to_dict(), "iterations": 4, "checkpoint_every": 4})
    with pytest.raises(TrainingError, match="at step 2"):
        train_stage(config, items, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_predict_refuses_a_model_with_non_finite_weights(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    assert main(["train-seg", "--train", str(data), "--out", str(tmp_path / "run"), "--config",
                 _config_file(tmp_path), "--quiet"]) == 0
    weights_path = tmp_path / "run" / "model" / "model.safetensors"
    weights = load_file(str(weights_path))
    first = next(k for k, v in weights.items() if v.is_floating_point())
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, str(weights_path))
    assert main(["predict", "--model", str(tmp_path / "run"), "--input", str(data), "--out",
                 str(tmp_path / "preds"), "--quiet"]) == 2
    assert "non-finite weights" in capsys.readouterr().err
    assert not list((tmp_path / "preds").glob("*.nii.gz")) if (tmp_path / "preds").exists() else True
    assert json.loads((tmp_path / "run" / "run.json").read_text())["strategy"] == "end_to_end"


@pytest.mark.parametrize("text, words", [("network: [unclosed", "cannot be read as YAML"),
                                         ("- a\n- b\n", "must hold a mapping"),
                                         ("batch_size: abc\n", "train.batch_size must be a whole number")])
def test_a_bad_train_config_file_is_one_line_and_exit_2(tmp_path, capsys, text, words):
    data = _dataset(tmp_path / "data")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    assert main(["train-seg", "--train", str(data), "--out", str(tmp_path / "run"), "--config", str(bad),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.parametrize("text, words", [("scarcity: [1, 2\n", "cannot be read as YAML"),
                                         ("arms: 3\n", "list of arms"),
                                         ("n_test: abc\n", "study.n_test must be a whole number")])
def test_a_bad_study_config_file_is_one_line_and_exit_2(tmp_path, capsys, text, words):
    bad = tmp_path / "study.yaml"
    bad.write_text(text)
    assert main(["study", "--config", str(bad), "--out", str(tmp_path / "study"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_set_override_of_the_wrong_type_is_one_line_and_exit_2(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    assert main(["generate", "--input", str(data), "--out", str(tmp_path / "out"),
                 "--set", "placement.vessel_clearance_mm=abc", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "placement.vessel_clearance_mm must be a number" in err and "Traceback" not in err


def test_a_truncated_replay_manifest_is_one_line_and_exit_2(tmp_path, capsys):
    data = _dataset(tmp_path / "data")
    assert main(["generate", "--input", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    manifest = (tmp_path / "out" / "manifest.jsonl").read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(manifest[: len(manifest) // 2])
    assert main(["generate", "--input", str(data), "--out", str(tmp_path / "again"), "--replay", str(cut),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not complete JSON" in err and "Traceback" not in err


def test_lesions_too_small_for_a_coarse_scan_are_warned_about(tmp_path):
    from synthtumor.commands.generate import GenerateJob, run_generate

    root = tmp_path / "coarse"
    case = blob_case(spacing=(2.0, 2.0, 2.5), seed=0)
    save_case(case, root)
    from synthtumor.io.case_io import write_cases_index

    write_cases_index(root, [case.case_id], name="coarse", description="20 mm slices")
    for name in ("image", "label", "vessels"):
        path = root / case.case_id / f"{name}.nii.gz"
        img = nib.load(str(path))
        affine = img.affine.copy()
        affine[2, 2] = 20.0  # 20 mm between slices: small lesions fall between voxel centres
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine, img.header), str(path))
    with pytest.warns(UserWarning, match="cover no voxel"):
        run_generate(GenerateJob(input_path=root, out=tmp_path / "out", quiet=True))


def test_a_run_that_draws_no_lesion_at_all_is_an_error_naming_why():
    from synthtumor.commands.generate import _check_drawn

    nothing = {"case_id": "a_syn00", "source_case_id": "a", "specs": [{"x": 1}], "rendered": [{"voxels": 0}]}
    no_room = {"case_id": "b_syn00", "source_case_id": "b", "specs": [], "rendered": []}
    with pytest.raises(InvalidCaseError, match="no lesion was drawn in any of the 2"):
        with pytest.warns(UserWarning):
            _check_drawn([nothing, no_room])
    drawn = {"case_id": "c_syn00", "source_case_id": "c", "specs": [{"x": 1}], "rendered": [{"voxels": 9}]}
    with pytest.warns(UserWarning, match="b_syn00: no lesion drawn: no room"):
        _check_drawn([drawn, no_room])
