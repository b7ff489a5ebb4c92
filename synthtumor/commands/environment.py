"""What every subcommand runs inside: the accepted voxel sizes and, for a command that writes,
the output's work folder for temporary files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from synthtumor.io.scan_checks import SPACING_ENV, spacing_limits
from synthtumor.io.workdir import work_area

__all__ = ["command_environment"]


@contextlib.contextmanager
def command_environment(out: str | os.PathLike | None, spacing_range: Sequence[float] | None) -> Iterator[None]:
    """Run a command with ``--spacing-range`` in force and its temporary files under ``out``.

    Args:
        out: the command's output folder (temporary files go to ``out/.synthtumor-tmp/``, swept
            first and removed at the end; see :func:`synthtumor.io.workdir.work_area`), or None.
        spacing_range: accepted voxel sizes (mm), or None for the default; worker processes see it
            through the environment (``SYNTHTUMOR_SPACING_MM``).
    """
    previous = os.environ.get(SPACING_ENV)
    if spacing_range is not None:
        os.environ[SPACING_ENV] = ",".join(repr(float(v)) for v in spacing_range)
    try:
        spacing_limits()  # a bad --spacing-range is refused once, before any work, not in every case
        with work_area(Path(out)) if out is not None else contextlib.nullcontext():
            yield
    finally:
        if previous is None:
            os.environ.pop(SPACING_ENV, None)
        else:
            os.environ[SPACING_ENV] = previous
