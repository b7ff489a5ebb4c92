"""The work folder: temporary files of a command's writes live in ``<out>/.synthtumor-tmp/``,
outside the dataset's own folders; a rerun sweeps what a crash left (issue 15 item 3).

Before it, the atomic writers put hidden temporary files beside their targets
(``imagesTr/.x.nii.gz.abc.tmp.nii.gz``), which a killed run left inside the dataset.
"""

from __future__ import annotations

import os
import stat

import nibabel as nib
import numpy as np

from synthtumor.io.case_io import write_text_atomic
from synthtumor.io.nifti import write_nifti
from synthtumor.io.workdir import WORK_DIR_NAME, sweep_stray_temp_files, temp_path, work_area


def _capture_saves(monkeypatch):
    seen = []
    real_save = nib.save

    def save(img, filename):
        seen.append(filename)
        real_save(img, filename)

    monkeypatch.setattr(nib, "save", save)
    return seen


def test_a_write_under_the_output_goes_through_the_work_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = _capture_saves(monkeypatch)
    with work_area(out) as work:
        target = out / "Dataset501_X" / "imagesTr" / "a_0000.nii.gz"
        write_nifti(np.zeros((4, 4, 4), np.int16), np.eye(4), target)
        write_text_atomic("{}", out / "Dataset501_X" / "dataset.json")
        assert work == (out / WORK_DIR_NAME).resolve() and os.listdir(work) == []
    assert os.path.dirname(seen[0]) == str(work)  # not imagesTr/
    assert seen[0].endswith(".tmp.nii.gz") and target.is_file()
    assert sorted(p.name for p in (out / "Dataset501_X").rglob("*")) == ["a_0000.nii.gz", "dataset.json", "imagesTr"]
    assert not work.exists()  # removed at the end


def test_the_work_folder_is_swept_on_the_next_run_and_shared_by_nested_use(tmp_path):
    out = tmp_path / "out"
    left = out / WORK_DIR_NAME / ".a.nii.gz.x1.tmp.nii.gz"  # a killed run's half-written file
    left.parent.mkdir(parents=True)
    left.write_bytes(b"half")
    with work_area(out) as work:
        assert not left.exists()
        tmp = temp_path(out / "b.json")
        with work_area(out):  # a command calling another's library function on the same output
            assert tmp.exists()
        assert tmp.exists() and tmp.parent == work
        tmp.unlink()
    assert not work.exists()


def test_targets_outside_the_output_or_without_an_area_get_a_hidden_file_beside_them(tmp_path):
    with work_area(tmp_path / "out"):
        beside = temp_path(tmp_path / "elsewhere" / "x.csv")
        itself = temp_path(tmp_path / "out")  # an --out that is a file (a preset YAML)
    assert beside.parent == tmp_path / "elsewhere" and beside.name.startswith(".x.csv.")
    assert itself.parent == tmp_path
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(beside.stat().st_mode) == 0o666 & ~umask


def test_sweep_removes_only_hidden_temporary_names(tmp_path):
    keep = ["image.nii.gz", ".hidden_config", "notes.tmp.txt", "case.json"]
    strays = [".image.nii.gz.k3j2x9.tmp.nii.gz", ".case.json.tmp4711", ".preview.png.tmp12.png"]
    for name in keep + strays:
        (tmp_path / "a" / "b").mkdir(parents=True, exist_ok=True)
        (tmp_path / "a" / "b" / name).write_text("")
    removed = sweep_stray_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(strays)
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == sorted(keep)


def test_trained_weights_are_readable_by_colleagues(tmp_path):
    """safetensors creates its files 0600; a model on a shared cluster must follow the umask."""
    from synthtumor.train_seg.config import TrainConfig
    from synthtumor.train_seg.trainer import train_stage

    from tests.conftest import blob_dataset

    data = blob_dataset(tmp_path / "data", n=1)
    config = TrainConfig(network="unet", dims=2, channels=(4, 8), spacing_mm=(3.0, 3.0, 3.0), patch_size=(16, 16),
                         batch_size=2, iterations=2, checkpoint_every=2, num_workers=0, mixed_precision="no")
    items = [{"image": str(data / "blob0" / "image.nii.gz"), "label": str(data / "blob0" / "label.nii.gz"),
              "case_id": "blob0"}]
    train_stage(config, items, tmp_path / "run", quiet=True)
    umask = os.umask(0o022)
    os.umask(umask)
    weights = sorted((tmp_path / "run").rglob("*.safetensors"))
    assert len(weights) >= 2  # the model and its checkpoint
    assert {stat.S_IMODE(p.stat().st_mode) for p in weights} == {0o666 & ~umask}
