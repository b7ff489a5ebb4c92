"""A job's state in its output folder: one record per finished output, with the SHA-256 of its
files, and one per output that failed.

A long job (thousands of cases, on a pool or a Ray cluster) keeps no state in memory that a
crash could lose. Each finished output leaves ``<records>/<id>.json``, written atomically *after*
its files; its ``files`` entry maps each file (relative to the output folder) to the SHA-256 of
its bytes. A rerun trusts a record only if every file it names is there with the same checksum
(:func:`verified_record`); otherwise the record is deleted and the output redone. One file per
output id means no output can be recorded twice. An output that kept failing leaves
``<records>/failed/<id>.json`` (its error and the number of attempts) until a later run
finishes it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthtumor.io.case_io import write_json_atomic

__all__ = ["FAILED_DIR", "sha256_file", "file_checksums", "verified_record", "record_failure", "clear_failure",
           "read_failures"]

FAILED_DIR = "failed"
_CHUNK = 1 << 20  # bytes read at a time while hashing


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read 1 MiB at a time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(paths: Iterable[str | os.PathLike], root: str | os.PathLike) -> dict[str, str]:
    """``{path relative to root (POSIX): sha256}`` for each file, sorted by path."""
    root = Path(root)
    sums = {Path(p).relative_to(root).as_posix(): sha256_file(p) for p in paths}
    return dict(sorted(sums.items()))


def verified_record(path: str | os.PathLike, root: str | os.PathLike) -> dict[str, Any] | None:
    """The record at ``path`` if it is complete JSON and every file it lists (relative to ``root``)
    exists with the recorded SHA-256; else None, and the record is deleted so the output is redone.

    A record without a ``files`` entry (written by a version that kept no checksums) cannot be
    verified and counts as missing.
    """
    path, root = Path(path), Path(root)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        record = None
    files = record.get("files") if isinstance(record, dict) else None
    if isinstance(files, dict) and files and all(_matches(root / name, digest) for name, digest in files.items()):
        return record
    path.unlink(missing_ok=True)
    return None


def _matches(path: Path, digest: Any) -> bool:
    try:
        return sha256_file(path) == digest
    except OSError:
        return False


def _failure_path(records: Path, case_id: str) -> Path:
    return Path(records) / FAILED_DIR / f"{case_id}.json"


def record_failure(records: str | os.PathLike, case_id: str, error: str, attempts: int,
                   **extra: Any) -> dict[str, Any]:
    """Write ``<records>/failed/<case_id>.json`` (``case_id``, ``error``, ``attempts``, ``extra``)."""
    record = {"case_id": case_id, "status": "failed", "error": error, "attempts": attempts, **extra}
    path = _failure_path(Path(records), case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, path)
    return record


def clear_failure(records: str | os.PathLike, case_id: str) -> None:
    """Forget an earlier failure of ``case_id`` (it has now been written)."""
    _failure_path(Path(records), case_id).unlink(missing_ok=True)


def read_failures(records: str | os.PathLike, case_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The failure records of ``case_ids`` (in that order) that exist and are readable."""
    out = []
    for case_id in case_ids:
        try:
            out.append(json.loads(_failure_path(Path(records), case_id).read_text()))
        except (OSError, ValueError):
            continue
    return out
