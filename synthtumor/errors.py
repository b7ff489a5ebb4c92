"""The package's own exception types.

Every error a user can cause derives from :class:`SynthTumorError`. Its message names the
case (where there is one), what is wrong and how to fix it, so that the CLI can print it as it
is, without a traceback.
"""

from __future__ import annotations

__all__ = [
    "SynthTumorError",
    "InvalidCaseError",
    "CaseFileError",
    "LabelMapError",
    "DatasetLayoutError",
    "ConfigError",
    "CasesFailedError",
    "user_error_in",
    "raise_user_error_in",
]


class SynthTumorError(Exception):
    """Base class of every error synthtumor raises on bad input.

    Args:
        problem: what is wrong, in one sentence.
        case: the case id (or file) concerned, if any.
        fix: what the user can do about it.
    """

    def __init__(self, problem: str, *, case: str | None = None, fix: str | None = None) -> None:
        self.problem = problem
        self.case = case
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        text = f"case {self.case!r}: {self.problem}" if self.case else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class InvalidCaseError(SynthTumorError, ValueError):
    """A scan or one of its masks is unusable: wrong shape, dtype, values or geometry."""


class CaseFileError(SynthTumorError, OSError):
    """A file is missing, unreadable or corrupt."""


class LabelMapError(SynthTumorError, ValueError):
    """A label map is malformed, or a label file holds values the label map does not know."""


class DatasetLayoutError(SynthTumorError):
    """A folder is not a dataset layout synthtumor can read, or is inconsistent."""


class ConfigError(SynthTumorError, ValueError):
    """A configuration value is missing or out of range."""


class CasesFailedError(SynthTumorError, RuntimeError):
    """Some cases of a batch job failed every attempt; the others were written (the message
    says where the failures are listed)."""


class TrainingError(SynthTumorError, RuntimeError):
    """A training run that cannot go on (e.g. its loss became NaN)."""


def user_error_in(exc: BaseException) -> SynthTumorError | None:
    """The synthtumor error behind ``exc``, if any: MONAI wraps an exception raised inside a
    transform in a ``RuntimeError("applying transform ...")``, which would show the user a
    traceback instead of the one-line message."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SynthTumorError):
            return seen
        seen = seen.__cause__
    return None


def raise_user_error_in(exc: BaseException) -> None:
    """Raise the synthtumor error behind ``exc`` on its own (one line for the user), or else
    ``exc`` itself with its cause chain intact, so that a bug inside a MONAI transform still shows
    where it happened."""
    user = user_error_in(exc)
    if user is not None:
        raise user from None
    raise exc
