"""`synthtumor generate`: formats, manifest, replay, resume, same bytes for any workers."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from synthtumor import ConfigError, load_dataset
from synthtumor.cli import main
from synthtumor.commands.generate import GenerateJob, ReplayJob, run_generate, run_replay
from synthtumor.io.case_io import save_case, write_cases_index
from synthtumor.lesions.render import RENDER_VERSION

from tests.conftest import blob_case


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    root = tmp_path_factory.mktemp("healthy")
    ids = []
    for seed in (0, 1):
        case = blob_case(spacing=(1.5, 1.5, 2.5), seed=seed)
        save_case(case, root)
        ids.append(case.case_id)
    write_cases_index(root, ids, name="healthy", description="test blobs")
    return root


def digest(folder):
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".gz", ".jsonl")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_cases_format_manifest_and_labels(healthy, tmp_path):
    manifest = run_generate(GenerateJob(input_path=healthy, out=tmp_path / "out", preset="liver_metastasis",
                                        per_case=2, seed=3, quiet=True))
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert [r["case_id"] for r in lines] == ["blob0_syn00", "blob0_syn01", "blob1_syn00", "blob1_syn01"]
    for r in lines:
        assert r["source_case_id"] in ("blob0", "blob1") and r["specs"] and r["seed"]["run_seed"] == 3
    out = load_dataset(tmp_path / "out")
    assert len(out) == 4
    case = out[0]
    assert case.tumor.any() and case.vessels is not None
    assert (tmp_path / "out" / "resolved_config.yaml").is_file()


def test_same_bytes_for_any_number_of_workers_and_resume(healthy, tmp_path):
    for out, workers in (("w1", 1), ("w2", 2)):
        run_generate(GenerateJob(input_path=healthy, out=tmp_path / out, preset="mixed", per_case=1, seed=5,
                                 workers=workers, quiet=True))
    assert digest(tmp_path / "w1") == digest(tmp_path / "w2")
    # a rerun after a crash redoes only what has no record
    record = tmp_path / "w1" / ".records" / "blob1_syn00.json"
    image = tmp_path / "w1" / "blob1_syn00" / "image.nii.gz"
    record.unlink()
    image.write_bytes(b"half-written")
    untouched = (tmp_path / "w1" / "blob0_syn00" / "image.nii.gz").stat().st_mtime_ns
    run_generate(GenerateJob(input_path=healthy, out=tmp_path / "w1", preset="mixed", per_case=1, seed=5, quiet=True))
    assert digest(tmp_path / "w1") == digest(tmp_path / "w2")
    assert (tmp_path / "w1" / "blob0_syn00" / "image.nii.gz").stat().st_mtime_ns == untouched


def test_replay_renders_the_same_cases(healthy, tmp_path):
    manifest = run_generate(GenerateJob(input_path=healthy, out=tmp_path / "a", preset="liver_hcc", per_case=1, seed=1,
                                        quiet=True))
    run_replay(ReplayJob(manifest=manifest, input_path=healthy, out=tmp_path / "b", quiet=True))
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.label, y.label)


def test_replay_of_an_older_renderers_manifest_warns(healthy, tmp_path):
    manifest = run_generate(GenerateJob(input_path=healthy, out=tmp_path / "a", preset="liver_cyst", per_case=1, seed=2,
                                        quiet=True))
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert all(line["render_version"] == RENDER_VERSION for line in lines)
    for line in lines:
        line["render_version"] = RENDER_VERSION - 1
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.warns(UserWarning, match="renderer version"):
        run_replay(ReplayJob(manifest=old, input_path=healthy, out=tmp_path / "b", quiet=True))


def test_nnunet_export_passes_nnunets_own_integrity_check(healthy, tmp_path):
    run_generate(GenerateJob(input_path=healthy, out=tmp_path / "nn", preset="liver_cyst", per_case=1, format="nnunet",
                             dataset_id=777, dataset_name="Blobs", quiet=True))
    folder = tmp_path / "nn" / "Dataset777_Blobs"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT"} and meta["numTraining"] == 2 and meta["file_ending"] == ".nii.gz"
    images = sorted(p.name for p in (folder / "imagesTr").iterdir())
    assert images == ["blob0_syn00_0000.nii.gz", "blob1_syn00_0000.nii.gz"]
    assert len(load_dataset(folder)) == 2  # and synthtumor reads it back
    integrity = pytest.importorskip(
        "nnunetv2.experiment_planning.verify_dataset_integrity",
        reason="nnunetv2 is not installed (pip install -e '.[nnunet]'); CI installs it")
    integrity.verify_dataset_integrity(str(folder), num_processes=1)


def test_decathlon_export(healthy, tmp_path):
    run_generate(GenerateJob(input_path=healthy, out=tmp_path / "dec", preset="liver_cyst", format="decathlon",
                             quiet=True))
    folder = tmp_path / "dec" / "Task90_SynthTumor"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["labels"] == {"0": "background", "1": "liver", "2": "cancer"} and len(meta["training"]) == 2
    ds = load_dataset(folder)
    assert ds.layout == "decathlon" and ds[0].tumor.any()


def test_output_inside_the_input_is_refused(healthy):
    with pytest.raises(ConfigError, match="never writes into its inputs"):
        run_generate(GenerateJob(input_path=healthy, out=healthy / "out", quiet=True))


def test_cli_generate_with_overrides_and_a_bad_preset(healthy, tmp_path, capsys):
    assert main(["generate", "--input", str(healthy), "--out", str(tmp_path / "o"), "--preset", "liver_cyst",
                 "--set", "placement.vessel_clearance_mm=3", "--preview", "--quiet"]) == 0
    assert len(list((tmp_path / "o" / "previews").glob("*.png"))) == 2
    specs = json.loads((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()[0])["specs"]
    assert all(s["vessel_clearance_mm"] == 3 for s in specs)
    assert main(["generate", "--input", str(healthy), "--out", str(tmp_path / "p"), "--preset", "nope"]) == 2
    assert "unknown generator preset" in capsys.readouterr().err


def test_resuming_with_other_options_is_refused(healthy, tmp_path):
    run_generate(GenerateJob(input_path=healthy, out=tmp_path / "r", preset="liver_cyst", seed=1, quiet=True))
    with pytest.raises(ConfigError, match="differs in \\['seed'\\]"):
        run_generate(GenerateJob(input_path=healthy, out=tmp_path / "r", preset="liver_cyst", seed=2, quiet=True))


def test_manifest_records_what_replay_needs(healthy, tmp_path):
    manifest = run_generate(GenerateJob(input_path=healthy, out=tmp_path / "m", preset="liver_cyst", phase="portal",
                                        overrides={"placement": {"min_gap_mm": 3}}, quiet=True))
    record = json.loads(manifest.read_text().splitlines()[0])
    assert record["phase"] == "portal" and record["overrides"] == {"placement": {"min_gap_mm": 3}}
    # phase and overrides come from the manifest
    run_replay(ReplayJob(manifest=manifest, input_path=healthy, out=tmp_path / "m2", quiet=True))
    a, b = load_dataset(tmp_path / "m"), load_dataset(tmp_path / "m2")
    assert b[0].phase.value == "portal"
    np.testing.assert_array_equal(a[0].image, b[0].image)


def test_the_job_defaults_are_the_command_lines():
    from dataclasses import fields

    from synthtumor.cli import build_parser

    args = build_parser().parse_args(["generate", "--out", "o"])
    job = GenerateJob(out="o")
    named = {"input_path": "input"}
    apart = {"out", "overrides", "expect_ct", "execution"}  # built from the arguments, checked below
    for f in fields(GenerateJob):
        if f.name not in apart:
            assert getattr(job, f.name) == getattr(args, named.get(f.name, f.name)), f.name
    assert job.overrides == {} and args.overrides == [] and job.expect_ct is not args.no_ct_check
