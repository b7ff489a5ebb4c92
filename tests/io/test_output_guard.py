"""Output guard: no command writes into, inside or around its inputs, nor over a folder holding
something other than its own run unless ``--overwrite`` (issue 15 item 1).

Each command test first runs what a user ran when the issue was filed: before the guard,
``phantom``, ``generate``, ``evaluate``, ``train-seg``, ``train-diffusion`` and ``demo`` wrote
their files beside whatever the folder already held (exit 0), and ``evaluate`` and
``train-diffusion`` wrote into a folder that holds their input.
"""

from __future__ import annotations

import pytest
import yaml

from synthtumor.cli import main

from tests.conftest import blob_dataset

TINY_TRAIN = {"network": "unet", "dims": 2, "channels": [4, 8], "spacing_mm": [3.0, 3.0, 3.0], "patch_size": [16, 16],
              "batch_size": 2, "iterations": 2, "checkpoint_every": 2, "num_workers": 0, "mixed_precision": "no"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("guard") / "data", n=2)


@pytest.fixture
def foreign(tmp_path):
    folder = tmp_path / "colleague"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    return folder


def _train_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_TRAIN))
    return str(path)


COMMANDS = {
    "phantom": lambda data, out, tmp: ["phantom", str(out), "--n", "1", "--fov", "340", "280", "200",
                                       "--spacing", "4", "4", "5"],
    "generate": lambda data, out, tmp: ["generate", "--input", str(data), "--out", str(out)],
    "evaluate": lambda data, out, tmp: ["evaluate", "--pred", str(data), "--ref", str(data), "--out", str(out)],
    "train-seg": lambda data, out, tmp: ["train-seg", "--train", str(data), "--out", str(out), "--config",
                                         _train_config(tmp)],
    "train-diffusion": lambda data, out, tmp: ["train-diffusion", "--data", str(data), "--out", str(out),
                                               "--max-steps", "1"],
    "demo": lambda data, out, tmp: ["demo", "--out", str(out), "--n", "1", "--no-study", "--fov", "340", "280", "200",
                                    "--spacing", "4", "4", "5"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_holding_other_files_is_refused_and_kept(command, data, foreign, tmp_path, capsys):
    argv = COMMANDS[command](data, foreign, tmp_path)
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "did not write (notes.txt)" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert (foreign / "notes.txt").read_text() == "precious"


def test_overwrite_writes_beside_the_files_and_deletes_nothing(data, foreign):
    assert main(["evaluate", "--pred", str(data), "--ref", str(data), "--out", str(foreign), "--quiet",
                 "--overwrite"]) == 0
    assert (foreign / "notes.txt").read_text() == "precious" and (foreign / "metrics.csv").is_file()


def test_a_commands_own_output_is_written_again(data, tmp_path):
    out = tmp_path / "eval"
    for _ in range(2):
        assert main(["evaluate", "--pred", str(data), "--ref", str(data), "--out", str(out), "--quiet"]) == 0
    cohort = tmp_path / "cohort"
    for _ in range(2):  # the second run finds every case done
        assert main(COMMANDS["phantom"](data, cohort, tmp_path) + ["--quiet"]) == 0


@pytest.mark.parametrize("command", ["evaluate", "train-diffusion"])
def test_an_output_around_the_input_is_refused(command, data, capsys):
    around = data.parent  # the folder that holds the dataset
    before = sorted(p.name for p in around.iterdir())
    assert main(COMMANDS[command](data, around, around) + ["--quiet", "--overwrite"]) == 2
    assert "never writes into its inputs" in capsys.readouterr().err
    assert sorted(p.name for p in around.iterdir()) == before


def test_check_output_free_rules(tmp_path):
    from synthtumor.errors import ConfigError
    from synthtumor.io.output_guard import check_output_free, only_names
    from synthtumor.io.workdir import WORK_DIR_NAME

    owns = only_names("metrics.csv", "run_*")
    check_output_free(tmp_path / "missing", "x", owns)
    empty = tmp_path / "empty"
    (empty / WORK_DIR_NAME).mkdir(parents=True)  # an interrupted run's work folder does not count
    check_output_free(empty, "x", owns)
    mine = tmp_path / "mine"
    (mine / "run_1").mkdir(parents=True)
    (mine / "metrics.csv").write_text("")
    check_output_free(mine, "x", owns)
    (mine / "other.txt").write_text("")
    with pytest.raises(ConfigError, match=r"did not write \(metrics.csv, other.txt, run_1/\)"):
        check_output_free(mine, "x", owns)
    check_output_free(mine, "x", owns, overwrite=True)
    with pytest.raises(ConfigError, match="is a file"):
        check_output_free(mine / "other.txt", "x", owns, overwrite=True)


def test_fit_preset_does_not_replace_a_hand_written_preset(data, tmp_path, capsys):
    mine = tmp_path / "my_preset.yaml"
    mine.write_text("name: mine\n# tuned by hand over a week\n")
    assert main(["fit-preset", "--real", str(data), "--out", str(mine), "--quiet"]) == 2
    assert "fit-preset` did not write it" in capsys.readouterr().err
    assert mine.read_text() == "name: mine\n# tuned by hand over a week\n"
