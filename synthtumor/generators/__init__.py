"""Lesion generators: one protocol (prepare / sample / render), heuristic and diffusion fillings."""

from __future__ import annotations

from synthtumor.generators.base import LesionGenerator, NoRoomError
from synthtumor.generators.config import GeneratorConfig, list_presets
from synthtumor.generators.heuristic import HeuristicGenerator

__all__ = ["GeneratorConfig", "HeuristicGenerator", "LesionGenerator", "NoRoomError", "list_presets"]
