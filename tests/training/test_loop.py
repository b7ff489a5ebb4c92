"""The one training loop: log, checkpoints, non-finite loss, resume, main-process-only writes."""

from __future__ import annotations

import csv

import pytest
import torch

from synthtumor.errors import CaseFileError, TrainingError
from synthtumor.training.checkpoints import (
    latest_checkpoint,
    load_checkpoint_file,
    load_optimizer_state,
    prune_checkpoints,
    save_checkpoint,
)
from synthtumor.training.loop import RunLog, run_loop


class FakeAccelerator:
    """Just what the loop asks of accelerate: which rank this is, and a barrier."""

    def __init__(self, main: bool = True) -> None:
        self.is_main_process = main
        self.barriers = 0

    def wait_for_everyone(self) -> None:
        self.barriers += 1


def _steps(losses):
    return lambda step: {"step": step, "loss": losses[step - 1]}


def test_the_loop_logs_every_step_and_saves_every_n_and_at_the_end(tmp_path):
    saved = []
    log = RunLog(tmp_path / "log.csv", ("step", "loss"))
    last = run_loop(FakeAccelerator(), start=0, end=5, step_fn=_steps([1.0, 0.9, 0.8, 0.7, 0.6]), log=log,
                    checkpoint_every=2, save=saved.append, desc="t", quiet=True)
    assert last == 5 and saved == [2, 4, 5]
    with open(tmp_path / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4", "5"]


def test_a_second_stage_counts_its_checkpoints_from_its_first_step(tmp_path):
    saved = []
    run_loop(FakeAccelerator(), start=3, end=7, step_fn=_steps([1.0] * 7),
             log=RunLog(tmp_path / "l.csv", ("step", "loss")), checkpoint_every=2, save=saved.append, desc="t",
             quiet=True, first_step=3)
    assert saved == [5, 7]


def test_a_non_finite_loss_stops_the_loop_naming_the_step_and_saves_nothing_more(tmp_path):
    saved = []
    with pytest.raises(TrainingError, match="at step 3; training stopped and the checkpoint of step 2 is kept"):
        run_loop(FakeAccelerator(), start=0, end=6, step_fn=_steps([1.0, 0.9, float("nan"), 0.5, 0.4, 0.3]),
                 log=RunLog(tmp_path / "log.csv", ("step", "loss")), checkpoint_every=2, save=saved.append,
                 desc="t", quiet=True)
    assert saved == [2]
    with open(tmp_path / "log.csv", newline="") as handle:
        assert [r["step"] for r in csv.DictReader(handle)] == ["1", "2"]


def test_only_the_main_process_writes(tmp_path):
    saved = []
    other = FakeAccelerator(main=False)
    log = RunLog(tmp_path / "log.csv", ("step", "loss"), enabled=False)
    run_loop(other, start=0, end=4, step_fn=_steps([1.0] * 4), log=log, checkpoint_every=2, save=saved.append,
             desc="t", quiet=True)
    assert saved == [] and other.barriers == 2  # it still meets the main process at each checkpoint
    assert not (tmp_path / "log.csv").exists() and len(log.rows) == 4


def test_resuming_keeps_the_log_up_to_the_checkpoint_and_drops_later_rows(tmp_path):
    path = tmp_path / "log.csv"
    run_loop(FakeAccelerator(), start=0, end=5, step_fn=_steps([1.0, 0.9, 0.8, 0.7, 0.6]),
             log=RunLog(path, ("step", "loss")), checkpoint_every=2, save=lambda s: None, desc="t", quiet=True)
    log = RunLog(path, ("step", "loss"), up_to=4)  # as if killed after step 5, before its checkpoint
    assert [r["step"] for r in log.rows] == [1, 2, 3, 4]
    run_loop(FakeAccelerator(), start=4, end=6, step_fn=_steps([9.0] * 6), log=log, checkpoint_every=2,
             save=lambda s: None, desc="t", quiet=True)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["step"], r["loss"]) for r in rows][-3:] == [("4", "0.7"), ("5", "9.0"), ("6", "9.0")]


def test_checkpoints_round_trip_and_prune_to_the_newest(tmp_path):
    root = tmp_path / "checkpoints"
    net = torch.nn.Linear(3, 2)
    optimiser = torch.optim.AdamW(net.parameters())
    for step in (2, 4, 6):
        save_checkpoint(root, step, {"model": net.state_dict()}, {"optimiser": optimiser.state_dict()},
                        {"stage": "all"})
    prune_checkpoints(root, keep=1)
    latest = latest_checkpoint(root)
    assert latest.name == "step_0000006" and sorted(p.name for p in root.glob("step_*")) == ["step_0000006"]
    weights = load_checkpoint_file(latest, "model")
    assert torch.equal(weights["weight"], net.weight.detach())
    assert "optimiser" in load_optimizer_state(latest)


def test_damaged_checkpoint_files_are_one_clear_error(tmp_path):
    root = tmp_path / "checkpoints"
    folder = save_checkpoint(root, 1, {"model": torch.nn.Linear(2, 2).state_dict()}, {}, {})
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CaseFileError, match="damaged or cut short"):
        load_checkpoint_file(folder, "model")
    (folder / "optimizer.pt").write_bytes(b"not torch")
    with pytest.raises(CaseFileError, match="cannot be read"):
        load_optimizer_state(folder)
    (root / "latest.json").write_text("{")
    with pytest.raises(CaseFileError, match="damaged"):
        latest_checkpoint(root)
