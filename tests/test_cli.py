"""The `synthtumor` command: user errors print one line and exit 2; info reads what IO reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthtumor.cli import main

from tests.conftest import toy_volume, write_nifti_file

AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])


def test_info_json_on_a_nifti_file(tmp_path, capsys):
    image, _ = toy_volume()
    write_nifti_file(tmp_path / "scan.nii.gz", image, AFFINE, np.int16)
    assert main(["info", str(tmp_path / "scan.nii.gz"), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["case_id"] == "scan" and row["shape"] == list(image.shape)
    assert row["spacing"] == [0.8, 0.8, 2.5] and row["orientation"] == "RAS"
    for key in ("organ_ml", "vessel_ml", "tumor_ml", "hu_organ_median", "phase"):
        assert key in row


def test_info_on_the_real_scan_with_the_totalsegmentator_map(totalseg_example, tmp_path, capsys):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "imagesTr" / "ts_0000.nii.gz").symlink_to(totalseg_example / "ct.nii.gz")
    (tmp_path / "labelsTr" / "ts.nii.gz").symlink_to(totalseg_example / "seg.nii.gz")
    assert main(["info", str(tmp_path), "--label-map", "totalsegmentator", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["organ_ml"] == pytest.approx(41_692 * 0.027, rel=1e-3)
    assert 30 < row["hu_organ_median"] < 60


@pytest.mark.parametrize(
    "argv, words",
    [
        (["info", "{tmp}/absent.nii.gz"], "not found"),
        (["info", "{tmp}"], "no dataset layout"),
        (["info", "{tmp}/mr.nii.gz"], "does not look like CT"),
        (["info", "{tmp}/mr.nii.gz", "--no-ct-check", "--label-map", "nope"], "no label-map preset"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys, argv, words):
    image, _ = toy_volume()
    write_nifti_file(tmp_path / "mr.nii.gz", image + 1000.0, AFFINE, np.float32)
    status = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert status == 2
    assert words in err and "Traceback" not in err
    assert err.startswith("synthtumor info: error:")


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    from tests.conftest import blob_dataset

    return blob_dataset(tmp_path_factory.mktemp("cli") / "data", n=1)


@pytest.mark.parametrize("argv, words", [
    (["generate", "--input", "{data}", "--out", "{tmp}/o", "--preset", "{tmp}/binary.yaml"], "is not valid YAML"),
    (["generate", "--input", "{data}", "--out", "{tmp}/o", "--label-map", "{tmp}/binary.yaml"], "is not valid YAML"),
    (["phantom", "{tmp}/o", "--config", "{tmp}/binary.yaml"], "cannot read the phantom config"),
    (["phantom", "{tmp}/o", "--config", "{tmp}/broken.yaml"], "is not valid YAML"),
    (["generate", "--input", "{data}", "--out", "{tmp}/o", "--set", "placement=3"], "'placement' is a section"),
    (["generate", "--input", "{data}", "--out", "/proc/synthtumor-out"], "No such file or directory"),
    (["train-diffusion", "--data", "{data}", "--out", "{tmp}/o", "--resume"], "holds no diffusion training run"),
    (["phantom", "{tmp}/binary.yaml"], "is a file, not a folder"),
])
def test_hostile_inputs_print_one_line_and_exit_2(blobs, tmp_path, capsys, argv, words):
    """Inputs tried as a hostile new user would (issue 15 item 5): each gave a traceback or a
    several-line message before."""
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "broken.yaml").write_text("spacing: [1, 2\n")
    status = main([a.format(tmp=tmp_path, data=blobs) for a in argv] + ["--quiet"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_reader_that_goes_away_stops_the_command_quietly(monkeypatch, capfd):
    """`synthtumor info DATA | head -1`: a broken pipe is no error to report, as for ls."""
    from synthtumor import cli

    def gone(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setitem(cli._COMMANDS, "info", gone)
    assert cli.main(["info", "anything"]) == 0
    assert "error" not in capfd.readouterr().err


@pytest.mark.parametrize("extra, flag", [
    (["--preset", "liver_hcc"], "--preset"),
    (["--set", "lobulation=[0.4,0.5]"], "--set"),
    (["--seed", "3"], "--seed"),
    (["--per-case", "2"], "--per-case"),
    (["--generator", "diffusion"], "--generator"),
    (["--resume"], "--resume"),
])
def test_replay_refuses_the_draw_options_it_would_ignore(tmp_path, capsys, extra, flag):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("")
    out = tmp_path / "o"
    assert main(["generate", "--replay", str(manifest), "--input", str(tmp_path), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and "--replay" in err and len(err.splitlines()) == 1
    assert not out.exists()
