"""The generator of a study arm, and fitted arms: a preset fitted on the run's own training scans.

A user with a few annotated scans of their own would fit a preset on them (``synthtumor
fit-preset``) and draw synthetic lesions with it; a fitted arm does the same inside the study, per
run: it lists the run's real training scans (never a test scan) in ``<run>/fit_cases.csv``, fits
the arm's base preset on their lesions (:func:`synthtumor.realism.fit.fit_preset`) and writes
``<run>/fitted_preset.yaml``. Where those scans hold fewer than 5 measurable lesions, the run
draws with the base preset. ``<run>/fit.json`` records which preset the run used and why, for
the report and for a resumed study (the fit is not repeated).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml

from synthtumor.errors import ConfigError
from synthtumor.generators import HeuristicGenerator
from synthtumor.io.case_io import write_json_atomic, write_text_atomic
from synthtumor.io.labelmap import LabelMap

__all__ = ["arm_generator", "fit_notes", "FIT_RECORD"]

FIT_RECORD = "fit.json"


def _case_list(items: list[dict[str, Any]], path: Path) -> None:
    """The training scans as a CSV list (``case_id,image,label[,vessels]``, absolute paths)."""
    buffer = io.StringIO()
    vessels = all(isinstance(item.get("vessels"), str) for item in items)
    writer = csv.writer(buffer)
    writer.writerow(["case_id", "image", "label"] + (["vessels"] if vessels else []))
    for item in items:
        if not isinstance(item.get("image"), str) or not isinstance(item.get("label"), str):
            raise ConfigError(f"a fitted study arm needs one image and one label file per scan; case "
                              f"{item.get('case_id')} has {item.get('label')!r}.",
                              fix="use a layout with one label file per case, or an arm without fitted: true.")
        row = [item["case_id"], str(Path(item["image"]).resolve()), str(Path(item["label"]).resolve())]
        writer.writerow(row + ([str(Path(item["vessels"]).resolve())] if vessels else []))
    write_text_atomic(buffer.getvalue(), path)


def _fit(arm, fit_items: list[dict[str, Any]], label_map: LabelMap | None, phase: str | None, run: Path) -> dict:
    from synthtumor.realism.compare import TooFewLesionsError
    from synthtumor.realism.fit import fit_preset

    listing = run / "fit_cases.csv"
    _case_list(fit_items, listing)
    record: dict[str, Any] = {"arm": arm.name, "base": arm.preset, "scans": [i["case_id"] for i in fit_items]}
    try:
        preset = fit_preset(listing, base=arm.preset, label_map=label_map, phase=phase,
                            name=f"fitted_{arm.preset}", rounds=arm.fit_rounds)
    except TooFewLesionsError as exc:
        return {**record, "preset": arm.preset, "fitted": False, "why": str(exc)}
    path = run / "fitted_preset.yaml"
    write_text_atomic(yaml.safe_dump(preset, sort_keys=False), path)
    return {**record, "preset": str(path), "fitted": True, "lesions": int(preset["provenance"]["lesions"])}


def arm_generator(arm, fit_items: list[dict[str, Any]] | None, label_map: LabelMap | None, phase: str | None,
                  run: Path) -> HeuristicGenerator | None:
    """The arm's lesion generator (None for the real arm); a fitted arm fits (or reuses) its preset.

    Args:
        arm: the :class:`~synthtumor.train_seg.study_config.ArmSpec`.
        fit_items: the run's real training scans (a fitted arm's data); None otherwise.
        label_map: their label map.
        phase: their contrast phase.
        run: the run folder (created).
    """
    if arm.kind == "real":
        return None
    if not arm.fitted:
        return HeuristicGenerator.from_preset(arm.preset)
    path = run / FIT_RECORD
    if path.is_file():
        record = json.loads(path.read_text())
    else:
        run.mkdir(parents=True, exist_ok=True)
        record = _fit(arm, list(fit_items or []), label_map, phase, run)
        write_json_atomic(record, path)
    return HeuristicGenerator.from_preset(record["preset"])


def fit_notes(out: Path) -> list[str]:
    """One line per fitted run of a study folder: what the preset was fitted on, or why the base
    preset was used."""
    lines = []
    for path in sorted(Path(out).glob(f"runs/*/n*/seed*/{FIT_RECORD}")):
        record = json.loads(path.read_text())
        where = f"{record['arm']}, {len(record['scans'])} real scan(s), {path.parent.name}"
        if record["fitted"]:
            lines.append(f"- {where}: preset fitted on {record['lesions']} lesions (base {record['base']}).")
        else:
            lines.append(f"- {where}: **base preset {record['base']} used**: {record['why']}")
    return lines
