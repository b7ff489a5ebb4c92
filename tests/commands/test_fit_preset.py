"""``synthtumor fit-preset`` from the command line."""

from __future__ import annotations

import yaml

from synthtumor.cli import main
from tests.realism.test_fit import annotated_dataset


def test_cli_writes_a_preset_generate_reads(tmp_path, capsys):
    data = annotated_dataset(tmp_path / "data")
    out = tmp_path / "presets" / "mine.yaml"
    assert main(["fit-preset", "--real", str(data), "--out", str(out), "--rounds", "1", "--quiet"]) == 0
    preset = yaml.safe_load(out.read_text())
    assert preset["provenance"]["lesions"] == 6 and preset["name"] == "fitted_liver_metastasis"
    assert out.read_text().startswith("# Generator preset fitted by `synthtumor fit-preset`")
    synth = tmp_path / "synth"
    assert main(["generate", "--input", str(data), "--out", str(synth), "--preset", str(out), "--quiet"]) == 0
    assert (synth / "manifest.jsonl").is_file()


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    data = annotated_dataset(tmp_path / "few", seeds=(0,))
    assert main(["fit-preset", "--real", str(data), "--out", str(tmp_path / "x.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "at least 5" in err
    assert main(["fit-preset", "--real", str(data), "--out", str(data / "x.yaml"), "--quiet"]) == 2
    assert "inside the dataset" in capsys.readouterr().err


def test_cli_summary_says_the_patterns_and_which_rounds_the_knobs_average(tmp_path, capsys):
    data = annotated_dataset(tmp_path / "data")
    out = tmp_path / "mine.yaml"
    assert main(["fit-preset", "--real", str(data), "--out", str(out), "--rounds", "2"]) == 0
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "patterns {'homogeneous': 1.0" in text  # the test lesions are plain blurred balls
    assert "knobs kept (mean of rounds 1-1)" in text and "KS sum" in text
