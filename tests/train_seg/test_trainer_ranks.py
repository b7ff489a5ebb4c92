"""Under ``accelerate launch`` every rank runs train_stage; only the main one may write files."""

from __future__ import annotations

import json

from accelerate import Accelerator

from synthtumor.io.case_io import save_case, write_cases_index
from synthtumor.train_seg import trainer
from synthtumor.train_seg.config import TrainConfig
from synthtumor.train_seg.data import dataset_items

from tests.conftest import blob_case

TINY = TrainConfig(network="unet", channels=(4, 8), spacing_mm=(3.0, 3.0, 3.0), patch_size=(16, 16, 16),
                   batch_size=1, iterations=3, checkpoint_every=2, num_workers=0, mixed_precision="no")


class SecondRank(Accelerator):
    """A CPU accelerator that answers as rank 1 of 2 would (a simulated non-main process)."""

    @property
    def is_main_process(self) -> bool:
        return False


def _items(root):
    case = blob_case(spacing=(2.0, 2.0, 2.5), seed=0, tumor=True)
    save_case(case, root)
    write_cases_index(root, [case.case_id], name="ranks", description="one blob")
    return dataset_items(root, None)[0]


def test_a_non_main_rank_trains_but_writes_nothing(tmp_path, monkeypatch):
    items = _items(tmp_path / "data")
    monkeypatch.setattr(trainer, "make_accelerator", lambda config: SecondRank(cpu=True))
    folder = trainer.train_stage(TINY, items, tmp_path / "other", quiet=True)
    assert list(folder.iterdir()) == []


def test_the_main_rank_writes_the_model_log_and_one_checkpoint(tmp_path):
    items = _items(tmp_path / "data")
    folder = trainer.train_stage(TINY, items, tmp_path / "main", quiet=True)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints", "log.csv", "model.json", "model.safetensors"]
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["latest.json", "step_0000003"]
    assert json.loads((folder / "model.json").read_text())["steps"] == 3
