"""synthtumor info recognises and describes every layout, and shows the same scan alike in each."""

from __future__ import annotations

import json

import pytest

from synthtumor.cli import main

from tests.io.shared_ct_layouts import CASE, LAYOUT_NAMES, cli_args, write_layout

DESCRIBED = {"totalsegmentator": "totalsegmentator layout", "totalsegmentator_case": "totalsegmentator layout",
             "abdomenatlas": "abdomenatlas layout", "totalsegmentator_ml": "totalsegmentator_ml layout",
             "totalsegmentator_ml_case": "totalsegmentator_ml layout", "csv": "csv layout", "pair": "pair layout",
             "pair_structures": "pair layout", "nnunet": "nnunet layout"}


def _info(inputs, capsys, *extra):
    args = [str(inputs["input"])] if "input" in inputs else cli_args(inputs)
    if "label_map" in inputs:
        args += ["--label-map", str(inputs["label_map"])]
    assert main(["info", *args, "--phase", "native", *extra]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_info_names_the_layout_and_shows_the_same_scan(totalseg_example, tmp_path, capsys, layout):
    inputs = write_layout(layout, totalseg_example, tmp_path)
    text = _info(inputs, capsys)
    header, table = text.splitlines()[0], text.splitlines()[1:]
    assert DESCRIBED[layout] in header and "1 case(s)" in header
    assert "liver=5" in header or "organ liver" in header  # the map's roles, by name
    if layout in ("totalsegmentator", "abdomenatlas", "pair_structures"):
        assert "holds 7 masks" in header  # six structures and the never-read aorta.nii.gz
    rows = [json.loads(line) for line in _info(inputs, capsys, "--json").splitlines()]
    assert len(rows) == 1 and rows[0]["case_id"] == CASE and rows[0]["organ_ml"] == pytest.approx(1125.68)
    assert rows[0]["vessel_ml"] == pytest.approx(90.5) and rows[0]["hu_organ_median"] == 46.0
    assert rows[0]["layout"] == DESCRIBED[layout].split()[0]
    assert CASE in table[-1]


def test_info_on_a_folder_of_no_layout_lists_what_it_looked_for(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Looked for" in err and "segmentations/" in err and err.count("\n") == 1
