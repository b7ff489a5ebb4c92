"""Where a command may write: never into, inside or around its inputs, and never over a folder
that holds something other than this command's own run unless the user says ``--overwrite``.

Kept free of torch and MONAI, so that light commands (``evaluate``, ``phantom``) load quickly.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from synthtumor.errors import ConfigError
from synthtumor.io.workdir import WORK_DIR_NAME

__all__ = ["check_output_apart", "check_output_free", "only_names"]


def check_output_apart(out: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse an output folder that is an input, lies inside one, or contains one.

    Args:
        out: the folder the command will write.
        inputs: name (e.g. ``"input"``, ``"model"``) -> path read by the command; None entries are
            skipped.

    Raises:
        ConfigError: naming the overlapping input.
    """
    target = Path(out).resolve()
    for name, path in inputs.items():
        if path is None:
            continue
        source = Path(path).resolve()
        if target == source or source in target.parents or target in source.parents:
            raise ConfigError(f"--out {out} overlaps the {name} {path}; synthtumor never writes into its inputs.",
                              fix=f"choose an output folder outside the {name}.")


def only_names(*patterns: str) -> Callable[[Path], bool]:
    """A test for :func:`check_output_free`: every entry of the folder matches one of ``patterns``
    (``fnmatch`` patterns on names), i.e. the folder holds nothing but what the command writes."""
    def owns(folder: Path) -> bool:
        return all(any(fnmatch.fnmatchcase(p.name, pattern) for pattern in patterns) for p in _entries(folder))
    return owns


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != WORK_DIR_NAME)


def _shown(entries: Iterable[Path], limit: int = 4) -> str:
    names = [p.name + ("/" if p.is_dir() else "") for p in entries]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_output_free(out: str | os.PathLike, command: str, owns: Callable[[Path], bool], *,
                      overwrite: bool = False) -> None:
    """Refuse an output folder that already holds something other than this command's own run.

    A missing or empty folder is free; so is one ``owns`` recognises as the command's own
    (resumable) run, which the command then resumes or refuses by its own rules. Anything else
    (another dataset, another command's run, a user's files) is refused unless ``overwrite``:
    writing there would mix the new files with the old or replace them. ``overwrite`` deletes
    nothing; it lets the command write its files over same-named ones.

    Args:
        out: the output folder.
        command: the subcommand's name, for the message.
        owns: True for a folder holding this command's own run (see :func:`only_names`).
        overwrite: the user's ``--overwrite``.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder that is not the command's own.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder.", fix="give a folder path (it is created).")
    if overwrite or not path.is_dir():
        return
    entries = _entries(path)
    if entries and not owns(path):
        raise ConfigError(f"--out {out} already holds files that `synthtumor {command}` did not write "
                          f"({_shown(entries)}); writing there would mix the new outputs with them or replace them.",
                          fix="choose a new or empty folder, or pass --overwrite to write over them.")
