"""``synthtumor demo``: the main job on the embedded default, with no data needed.

The demo builds a small cohort of procedural abdominal CT phantoms with reference lesions (a
stand-in for real annotated tumours) with a PNG preview per case, then runs the study in
``configs/study/demo.yaml``: real versus heuristic-synthetic versus mixed training of a 2.5-D
UNet with 1, 2 and 4 real scans, evaluated on 4 held-out phantoms, and prints the report: the
table per arm and the paired difference of each arm to the real arm.
``--no-study`` stops after the cohort.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from synthtumor.commands.info import format_table
from synthtumor.commands.phantom_cohort import STAND_IN_NOTE, write_phantom_cohort
from synthtumor.io.output_guard import check_output_free, only_names
from synthtumor.phantom import PhantomConfig

__all__ = ["run_demo", "DEMO_LESIONS"]

#: Reference lesions per demo case when the config asks for none.
DEMO_LESIONS = 2


def run_demo(
    out: str | os.PathLike,
    *,
    n: int = 3,
    seed: int = 0,
    config: PhantomConfig | None = None,
    workers: int = 1,
    quiet: bool = False,
    study: bool = True,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Build the demo cohort in ``out/phantoms``, print what it holds, then run the demo study.

    Returns:
        One summary record per case (see :func:`synthtumor.commands.info.summarise_case`).
    """
    config = config or PhantomConfig()
    if config.n_lesions == 0:
        config = replace(config, n_lesions=DEMO_LESIONS)
    check_output_free(out, "demo", only_names("phantoms", "study"), overwrite=overwrite)
    root = Path(out) / "phantoms"
    rows = write_phantom_cohort(root, n, seed, config, workers=workers, preview=True, quiet=quiet)
    if not quiet:
        print()
        print(STAND_IN_NOTE)
        print()
        print(format_table(rows))
        print()
        print(f"dataset:  {root} (synthtumor case folders; `synthtumor info {root}` reads it back)")
        print(f"previews: {root}/<case>/preview.png (axial, coronal, sagittal; outlines: organ, vessels, tumour)")
    if study:
        from synthtumor.train_seg.study import run_study

        report = run_study("demo", Path(out) / "study", quiet=quiet)
        if not quiet:
            print()
            print(report.read_text())
            print(f"study report: {report} (plots beside it). These are small models trained for about a minute")
            print("each on phantoms: the numbers show what the study measures, not what synthetic lesions do for")
            print("real scans.")
    return rows
