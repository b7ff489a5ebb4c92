"""Job records: a record is trusted only while every file it lists has its SHA-256; a cut-off,
checksum-less or mismatching record is deleted; failures are kept per case until cleared."""

from __future__ import annotations

import hashlib
import json

from synthtumor.io.job_records import (
    clear_failure,
    file_checksums,
    read_failures,
    record_failure,
    sha256_file,
    verified_record,
)


def _job(tmp_path):
    (tmp_path / "a").mkdir(exist_ok=True)
    for name, data in (("a/image.bin", b"image"), ("a/label.bin", b"label")):
        (tmp_path / name).write_bytes(data)
    files = file_checksums([tmp_path / "a" / "label.bin", tmp_path / "a" / "image.bin"], tmp_path)
    record = tmp_path / "a.json"
    record.write_text(json.dumps({"case_id": "a", "files": files}))
    return record, files


def test_checksums_are_sha256_by_relative_path(tmp_path):
    _, files = _job(tmp_path)
    assert list(files) == ["a/image.bin", "a/label.bin"]
    assert files["a/image.bin"] == hashlib.sha256(b"image").hexdigest() == sha256_file(tmp_path / "a" / "image.bin")


def test_a_record_whose_files_match_is_kept(tmp_path):
    record, files = _job(tmp_path)
    assert verified_record(record, tmp_path) == {"case_id": "a", "files": files}
    assert record.exists()


def test_a_changed_or_missing_file_voids_the_record(tmp_path):
    record, _ = _job(tmp_path)
    (tmp_path / "a" / "label.bin").write_bytes(b"labeL")
    assert verified_record(record, tmp_path) is None and not record.exists()
    record, _ = _job(tmp_path)
    (tmp_path / "a" / "image.bin").unlink()
    assert verified_record(record, tmp_path) is None and not record.exists()


def test_a_cut_off_or_checksum_less_record_is_voided(tmp_path):
    record, _ = _job(tmp_path)
    record.write_text('{"case_id": "a", "fil')
    assert verified_record(record, tmp_path) is None and not record.exists()
    record.write_text('{"case_id": "a"}')  # an older version's record
    assert verified_record(record, tmp_path) is None and not record.exists()
    assert verified_record(tmp_path / "never.json", tmp_path) is None


def test_failures_are_recorded_read_in_order_and_cleared(tmp_path):
    record_failure(tmp_path, "b", "ValueError: no", 3, source_case_id="src")
    record_failure(tmp_path, "a", "first", 1)
    record_failure(tmp_path, "a", "second", 2)  # a later run's failure replaces the earlier one
    assert [(f["case_id"], f["error"], f["attempts"]) for f in read_failures(tmp_path, ["a", "b", "c"])] == [
        ("a", "second", 2), ("b", "ValueError: no", 3)]
    clear_failure(tmp_path, "a")
    assert [f["case_id"] for f in read_failures(tmp_path, ["a", "b"])] == ["b"]
