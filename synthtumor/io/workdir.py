"""Where files are written before they are renamed into place: a hidden work folder at the
output's root, so that a crash leaves no half-written file inside the dataset's own folders.

A command that writes under ``out`` runs inside :func:`work_area`: temporary files then live in
``out/.synthtumor-tmp/`` (same file system as their targets, so ``os.replace`` stays atomic);
what an interrupted run left there is swept when the next run starts, and the folder is removed
when the run ends. Worker processes inherit the work folder through the environment
(``SYNTHTUMOR_WORK_DIR``). Outside a work area, or for a target outside its output, the temporary
file is a hidden file beside the target, as before.

Files from an earlier version, which wrote hidden temporary files beside their targets
(``.image.nii.gz.abc123.tmp.nii.gz``, ``.case.json.tmp4711``), are swept by
:func:`sweep_stray_temp_files`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["WORK_DIR_NAME", "WORK_DIR_ENV", "work_area", "temp_path", "sweep_stray_temp_files", "current_umask",
           "share_like_umask"]

WORK_DIR_NAME = ".synthtumor-tmp"
WORK_DIR_ENV = "SYNTHTUMOR_WORK_DIR"
#: Hidden temporary names the atomic writers gave files beside their targets.
_STRAY = re.compile(r"^\..+\.tmp(\d+)?(\.[A-Za-z.]+)?$")


def current_umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_like_umask(path: str | os.PathLike) -> None:
    """Give a file written by a library that creates it private (safetensors: 0600) the mode any
    other new file gets under the user's umask (0644 under the usual 022)."""
    os.chmod(path, 0o666 & ~current_umask())


@contextmanager
def work_area(out: str | os.PathLike) -> Iterator[Path]:
    """Hold temporary files of everything written under ``out`` in ``out/.synthtumor-tmp/``.

    Sweeps what an interrupted run left there first; removes the folder at the end. Nested use on
    the same ``out`` (a command calling another's library function) reuses the open area.

    Yields:
        The work folder.
    """
    work = (Path(out) / WORK_DIR_NAME).resolve()
    previous = os.environ.get(WORK_DIR_ENV)
    if previous == str(work):
        yield work
        return
    shutil.rmtree(work, ignore_errors=True)
    os.environ[WORK_DIR_ENV] = str(work)
    try:
        yield work
    finally:
        if previous is None:
            os.environ.pop(WORK_DIR_ENV, None)
        else:
            os.environ[WORK_DIR_ENV] = previous
        shutil.rmtree(work, ignore_errors=True)


def _active_work_dir(target: Path) -> Path | None:
    value = os.environ.get(WORK_DIR_ENV)
    if not value:
        return None
    work = Path(value)
    resolved = target.resolve()
    if work.parent not in resolved.parents:  # outside the output, or the output itself (a file)
        return None
    return work


def temp_path(target: str | os.PathLike, suffix: str | None = None) -> Path:
    """A new, empty temporary file for ``target``, to be renamed onto it with ``os.replace``.

    It lies in the active work area when ``target`` is under its output, else beside ``target``
    (hidden). ``suffix`` (default: the target's, ``.nii.gz`` kept whole) lets writers that pick
    the format by the name (nibabel, matplotlib) work. The file gets the mode any other tool's new
    file gets under the user's umask (0644 under the usual 022), which the rename keeps: mkstemp's
    private 0600 would hide a generated dataset from colleagues.
    """
    target = Path(target)
    if suffix is None:
        suffix = ".nii.gz" if target.name.endswith(".nii.gz") else target.suffix
    work = _active_work_dir(target)
    folder = work if work is not None else target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    os.chmod(name, 0o666 & ~current_umask())
    return Path(name)


def sweep_stray_temp_files(root: str | os.PathLike) -> list[Path]:
    """Delete hidden temporary files an interrupted older run left beside their targets, anywhere
    under ``root``.

    Only names of the form ``.<name>.<random>.tmp<suffix>`` or ``.<name>.tmp<pid>`` are removed;
    anything else is left alone.

    Returns:
        The removed paths.
    """
    removed = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != WORK_DIR_NAME]
        for name in files:
            if _STRAY.match(name):
                path = Path(folder) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
