"""``synthtumor fit-preset``: a generator preset whose laws reproduce a dataset's annotated lesions.

Calls :func:`synthtumor.realism.fit.fit_preset` (measure every lesion, fit the laws, calibrate
by simulation in the dataset's own scans) and writes the preset as YAML to ``--out``, atomically,
with a header saying what it is. ``synthtumor generate --preset FILE.yaml`` and the on-the-fly
transforms (``HeuristicGenerator.from_preset("FILE.yaml")``) read it like any preset; its
``provenance`` mapping records the dataset, the lesion count, every measured feature and the
calibration rounds. Fewer than 5 measurable lesions: one line and exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from synthtumor.calibration_defaults import CALIBRATION_ROUNDS
from synthtumor.errors import ConfigError
from synthtumor.realism.fit import fit_preset

__all__ = ["run_fit_preset", "format_fit_summary"]

_HEADER = """# Generator preset fitted by `synthtumor fit-preset` (issue 14): laws are [a, b] (uniform) or
# {kind: lognormal | normal | empirical | uniform, ...} (synthtumor/generators/laws.py); sizes and
# distances in mm, HU relative to the parenchyma median, texture in multiples of the scan noise.
# `provenance` records what it was fitted on. Use it: synthtumor generate --preset THIS_FILE ...
"""


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def format_fit_summary(preset: dict[str, Any], out: Path) -> str:
    """A few lines: what was fitted and where it went."""
    p = preset["provenance"]
    m = p["measured"]
    phase = p["phase"]
    law = preset["appearance"][phase]
    lines = [
        f"fitted {p['lesions']} lesions in {p['cases_with_lesions']} of {p['cases']} case(s) of {p['dataset']} "
        f"(phase {phase}, base {p['base']}) -> {out}",
        f"  equivalent radius median {m['equivalent_radius_mm'].get('median')} mm "
        f"(10-90 %: {m['equivalent_radius_mm'].get('q10')}-{m['equivalent_radius_mm'].get('q90')}), "
        f"{m['lesions_per_case'].get('median')} lesions per case; size law {preset['size_law']['kind']}",
        f"  contrast median {m['contrast_hu'].get('median')} HU, std {m['std_hu'].get('median')} HU "
        f"(noise {m['noise_sigma_hu'].get('median')} HU; texture size exponent {law['texture_size_exponent']}), "
        f"sphericity {m['sphericity'].get('median')}, irregularity {m['irregularity'].get('median')}",
    ]
    patterns = law.get("patterns")
    lines.append(f"  patterns {patterns} ({p['patterns'].get('source')}; necrotic {p['patterns'].get('necrotic', 0)}, "
                 f"necrosis by size {law.get('necrosis_by_size')})")
    if p["calibration"]:
        rounds = p["calibration"]
        kept = rounds[len(rounds) // 2:]
        lines.append(f"  calibration: {len(rounds)} rounds, KS sum {rounds[0]['ks_sum']} in the first, "
                     f"{rounds[-1]['ks_sum']} in the last; knobs kept (mean of rounds {kept[0]['round']}-"
                     f"{kept[-1]['round']}) {p['knobs']}")
    return "\n".join(lines)


def run_fit_preset(
    real: str | os.PathLike,
    out: str | os.PathLike,
    *,
    base: str = "liver_metastasis",
    label_map: str | None = None,
    phase: str | None = None,
    name: str | None = None,
    seed: int = 0,
    rounds: int = CALIBRATION_ROUNDS,
    min_volume_ml: float = 0.05,
    expect_ct: bool = True,
    quiet: bool = False,
    overwrite: bool = False,
) -> Path:
    """Fit a preset to ``real`` and write it to ``out`` (YAML); return the path.

    An existing ``out`` is replaced only if fit-preset wrote it (its header says so), or with
    ``overwrite``: a hand-written preset is never lost by accident.

    Raises:
        ConfigError: ``out`` is not a .yaml path, lies inside the dataset or is the base preset.
        TooFewLesionsError: fewer than 5 measurable lesions.
        SynthTumorError: unreadable dataset or base preset.
    """
    out_path, root = Path(out), Path(real)
    if out_path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"--out {out_path} must be a .yaml file.", fix="e.g. --out my_hospital.yaml")
    if _inside(out_path, root):
        raise ConfigError(f"--out {out_path} lies inside the dataset {root}.", fix="write the preset elsewhere.")
    if Path(base).is_file() and out_path.resolve() == Path(base).resolve():
        raise ConfigError(f"--out {out_path} is the base preset itself.", fix="write the fitted preset to a new file.")
    if out_path.is_dir():
        raise ConfigError(f"--out {out_path} is a folder.", fix="give a .yaml file path, e.g. --out my_hospital.yaml")
    if out_path.is_file() and not overwrite and not out_path.read_bytes().startswith(_HEADER.encode()):
        raise ConfigError(f"--out {out_path} exists and `synthtumor fit-preset` did not write it; "
                          "it would be replaced.",
                          fix="choose a new file name, or pass --overwrite.")
    if rounds < 0:
        raise ConfigError(f"--rounds must be >= 0, got {rounds}.")
    progress = None if quiet else (lambda line: print(f"fit-preset: {line}", flush=True))
    preset = fit_preset(root, base=base, label_map=label_map, phase=phase, name=name, seed=seed, rounds=rounds,
                        min_volume_ml=min_volume_ml, expect_ct=expect_ct, progress=progress)
    if out_path.parent and not out_path.parent.exists():
        out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")  # same folder: the rename is atomic
    try:
        tmp.write_text(_HEADER + yaml.safe_dump(preset, sort_keys=False, width=110))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    if not quiet:
        print(format_fit_summary(preset, out_path))
    return out_path
