"""Where the YAML presets in ``configs/`` live.

Presets ship in the repository's top-level ``configs/`` folder (beside the package in a source
checkout or an editable install). ``SYNTHTUMOR_CONFIGS`` points elsewhere, e.g. to a copy of that
folder next to a wheel install.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from synthtumor.errors import ConfigError

__all__ = ["config_root", "config_dir", "read_yaml_mapping"]


def config_root() -> Path:
    """The ``configs/`` folder.

    Raises:
        ConfigError: no configs folder can be found.
    """
    override = os.environ.get("SYNTHTUMOR_CONFIGS")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent / "configs")
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise ConfigError(
        f"no configs folder found (looked in {', '.join(map(str, candidates))}).",
        fix="set SYNTHTUMOR_CONFIGS to the repository's configs/ folder.",
    )


def config_dir(kind: str) -> Path:
    """``configs/<kind>`` (e.g. ``labelmaps``, ``phantom``)."""
    return config_root() / kind


def read_yaml_mapping(path: Path, what: str) -> dict:
    """The mapping a YAML file holds (an empty file gives ``{}``).

    Raises:
        ConfigError: in one line, naming ``what`` and the file, when it cannot be read, is not
            YAML, or holds something other than a mapping.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{what} {path} cannot be read as YAML ({detail}).",
                          fix="fix the file (a YAML mapping of key: value lines).") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping, not {type(data).__name__}.")
    return data
