"""The protocol every lesion generator follows (heuristic and diffusion alike).

``prepare(case) -> Prepared`` is deterministic and cacheable; ``sample(prepared, rng)`` is the
only random step and returns :class:`~synthtumor.lesions.spec.TumorSpec` records;
``render(prepared, specs) -> Case`` is pure and touches only each lesion's box.
``generator(case, rng)`` does all three.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from synthtumor.anatomy import Prepared, prepare_case
from synthtumor.case import Case
from synthtumor.errors import InvalidCaseError
from synthtumor.lesions.render import RenderResult
from synthtumor.lesions.spec import TumorSpec

__all__ = ["LesionGenerator", "NoRoomError"]


class NoRoomError(InvalidCaseError):
    """No valid place exists for a lesion in this organ (too small, or too many vessels)."""


class LesionGenerator(ABC):
    """Base class of lesion generators.

    Args:
        block_mm: placement block size used by :meth:`prepare` (mm).
    """

    name = "generator"

    def __init__(self, block_mm: float = 2.0) -> None:
        self.block_mm = block_mm

    def prepare(self, case: Case) -> Prepared:
        """Deterministic, cacheable preparation of one case."""
        return prepare_case(case, block_mm=self.block_mm)

    @abstractmethod
    def sample(self, prepared: Prepared, rng: np.random.Generator) -> list[TumorSpec]:
        """Draw the lesions for one output case."""

    @abstractmethod
    def render_result(self, prepared: Prepared, specs: list[TumorSpec], *, inplace: bool = False) -> RenderResult:
        """Draw ``specs`` and report what each became; the input is left unmodified unless
        ``inplace`` (draw into the prepared arrays: :func:`~synthtumor.lesions.render.render_lesions`)."""

    def render(self, prepared: Prepared, specs: list[TumorSpec]) -> Case:
        """Draw ``specs`` into the prepared case; pure and deterministic."""
        return self.render_result(prepared, specs).case

    def set_random_state(self, seed: int | None = None) -> LesionGenerator:
        """Seed any internal random state (none here: every draw uses the rng passed in)."""
        return self

    def __call__(self, case: Case, rng: np.random.Generator) -> Case:
        """prepare, sample and render in one go."""
        prepared = self.prepare(case)
        return self.render(prepared, self.sample(prepared, rng))
