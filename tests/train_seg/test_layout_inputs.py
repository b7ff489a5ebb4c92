"""train-seg and predict read the shared real CT from TotalSegmentator layouts: per-structure masks
train (as channels, with on-the-fly lesions too), and predict takes one scan by --image."""

from __future__ import annotations

import pytest

from synthtumor.cli import main
from synthtumor.commands.train_seg import run_train_seg
from synthtumor.train_seg.config import TrainConfig

from tests.io.shared_ct_layouts import CASE, write_layout

TINY = TrainConfig(network="unet", channels=(4, 8), spacing_mm=(6.0, 6.0, 6.0), patch_size=(16, 16, 16),
                   batch_size=1, iterations=2, checkpoint_every=2, num_workers=0, mixed_precision="no")


@pytest.mark.filterwarnings("ignore")
def test_train_on_per_structure_masks_then_predict_one_scan_by_image(totalseg_example, tmp_path):
    per_structure = write_layout("totalsegmentator", totalseg_example, tmp_path / "ts")["input"]
    run = run_train_seg(per_structure, tmp_path / "run", config=TINY, synthetic_preset="liver_metastasis",
                        phase="native", quiet=True)
    assert (run / "model" / "model.safetensors").is_file()
    pair = write_layout("pair", totalseg_example, tmp_path / "pair")
    assert main(["predict", "--model", str(run), "--image", str(pair["image"]), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    assert main(["predict", "--model", str(run), "--input", str(per_structure), "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    assert (tmp_path / "a" / f"{CASE}.nii.gz").read_bytes() == (tmp_path / "b" / f"{CASE}.nii.gz").read_bytes()
