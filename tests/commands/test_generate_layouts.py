"""generate reads the shared real CT from every layout, and the same scan gives the same lesions
(same specs, same bytes) whichever layout holds it, in the cases and nnU-Net output formats;
--image/--label and a replay from a pair work too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthtumor.cli import main

from tests.io.shared_ct_layouts import CASE, LAYOUT_NAMES, cli_args, write_layout

OPTIONS = ["--phase", "native", "--seed", "3", "--per-case", "2", "--quiet"]
NNUNET_LAYOUTS = ("totalsegmentator", "abdomenatlas", "totalsegmentator_ml", "pair")


@pytest.fixture(scope="module")
def layouts(totalseg_example, tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return {name: write_layout(name, totalseg_example, root / name) for name in LAYOUT_NAMES}


def _generate(inputs: dict[str, Path], out: Path, *extra: str) -> Path:
    assert main(["generate", *cli_args(inputs), "--out", str(out), *OPTIONS, *extra]) == 0
    return out


def _records(out: Path) -> list[dict]:
    lines = (out / "manifest.jsonl").read_text().splitlines()
    keys = ("case_id", "source_case_id", "seed", "specs", "rendered")
    return [{k: r[k] for k in keys} for r in map(json.loads, lines)]


def _volumes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.nii.gz"))}


@pytest.fixture(scope="module")
def reference(layouts, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "reference"
    return _generate(layouts["totalsegmentator_ml"], out)


@pytest.mark.filterwarnings("ignore:.*cover no voxel")
@pytest.mark.parametrize("layout", [n for n in LAYOUT_NAMES if n != "totalsegmentator_ml"])
def test_cases_format_gives_the_same_lesions_from_every_layout(layouts, reference, tmp_path, layout):
    out = _generate(layouts[layout], tmp_path / "out")
    assert _records(out) == _records(reference)
    assert [r["case_id"] for r in _records(out)] == [f"{CASE}_syn00", f"{CASE}_syn01"]
    assert sum(len(r["specs"]) for r in _records(out)) > 0
    assert _volumes(out) == _volumes(reference)


@pytest.mark.filterwarnings("ignore:.*cover no voxel")
def test_nnunet_format_gives_the_same_bytes_from_every_layout(layouts, tmp_path):
    outs = {name: _generate(layouts[name], tmp_path / name, "--format", "nnunet", "--dataset-id", "501")
            for name in NNUNET_LAYOUTS}
    first = outs[NNUNET_LAYOUTS[0]]
    volumes = _volumes(first)
    assert f"Dataset501_SynthTumor/imagesTr/{CASE}_syn00_0000.nii.gz" in volumes
    for name, out in outs.items():
        assert _records(out) == _records(first), name
        assert _volumes(out) == volumes, name


@pytest.mark.filterwarnings("ignore:.*cover no voxel")
def test_replay_from_a_pair(layouts, reference, tmp_path):
    inputs = layouts["pair"]
    assert main(["generate", "--replay", str(reference / "manifest.jsonl"), *cli_args(inputs),
                 "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert _volumes(tmp_path / "again") == _volumes(reference)


def test_input_and_image_together_or_neither_is_one_line(layouts, tmp_path, capsys):
    pair = layouts["pair"]
    assert main(["generate", "--input", str(layouts["totalsegmentator"]["input"]), "--image", str(pair["image"]),
                 "--out", str(tmp_path / "o")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["generate", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--input" in err and "--image" in err and "Traceback" not in err


def test_a_missing_named_mask_exits_2_naming_the_file(layouts, tmp_path, capsys):
    inputs = layouts["abdomenatlas"]
    assert main(["generate", *cli_args(inputs), "--out", str(tmp_path / "o"), "--label-map", "totalsegmentator"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "inferior_vena_cava.nii.gz not found" in err and CASE in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
