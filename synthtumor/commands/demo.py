"""``synthtumor demo``: the main job on the embedded default, with no data needed.

Until the segmentation study lands, the demo builds a small cohort of procedural abdominal CT
phantoms with reference lesions (a stand-in for real annotated tumours), writes a PNG preview
per case, and prints the cohort's summary.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from synthtumor.commands.info import format_table
from synthtumor.commands.phantom_cohort import STAND_IN_NOTE, write_phantom_cohort
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
) -> list[dict[str, Any]]:
    """Build the demo cohort in ``out/phantoms`` and print what it holds.

    Returns:
        One summary record per case (see :func:`synthtumor.commands.info.summarise_case`).
    """
    config = config or PhantomConfig()
    if config.n_lesions == 0:
        config = replace(config, n_lesions=DEMO_LESIONS)
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
    return rows
