"""The shared real CT written in every layout synthtumor reads, for tests that must find the same
scan (and so the same lesions) whichever layout holds it.

The multi-label ``seg.nii.gz`` is split into per-structure masks for the per-structure layouts
(TotalSegmentator's names, or AbdomenAtlas's for the same structures). Every layout names the case
``BDMAP_00000001`` (an AbdomenAtlas scan that TotalSegmentator segmented too), because a case's
seed derives from its id.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

CASE = "BDMAP_00000001"
#: TotalSegmentator v2 id -> (TotalSegmentator name, AbdomenAtlas name) of the structures written.
STRUCTURES = {
    5: ("liver", "liver"),
    63: ("inferior_vena_cava", "postcava"),
    64: ("portal_vein_and_splenic_vein", "portal_vein_and_splenic_vein"),
    2: ("kidney_right", "kidney_right"),
    3: ("kidney_left", "kidney_left"),
    1: ("spleen", "spleen"),
}
#: Every way to give the scan: dataset folders, single case folders (``_case``), a CSV list, the
#: --image/--label pair (multi-label file or per-structure folder), and nnU-Net raw.
LAYOUT_NAMES = ("totalsegmentator", "totalsegmentator_case", "abdomenatlas", "totalsegmentator_ml",
                "totalsegmentator_ml_case", "csv", "pair", "pair_structures", "nnunet")


def split_masks(shared: Path, folder: Path, atlas: bool = False, corrupt: str | None = "aorta") -> Path:
    """Write one uint8 mask per structure of ``STRUCTURES`` into ``folder``; ``corrupt`` adds a mask
    file of garbage bytes that nothing may read."""
    folder.mkdir(parents=True, exist_ok=True)
    seg = nib.load(str(shared / "seg.nii.gz"))
    values = np.asarray(seg.dataobj)
    for value, names in STRUCTURES.items():
        mask = nib.Nifti1Image((values == value).astype(np.uint8), seg.affine, seg.header)
        nib.save(mask, str(folder / f"{names[1 if atlas else 0]}.nii.gz"))
    if corrupt:
        (folder / f"{corrupt}.nii.gz").write_bytes(b"not a NIfTI file")
    return folder


def _case_folder(shared: Path, root: Path) -> Path:
    folder = root / CASE
    folder.mkdir(parents=True)
    os.symlink(shared / "ct.nii.gz", folder / "ct.nii.gz")
    return folder


def write_layout(name: str, shared: Path, root: Path) -> dict[str, Path]:
    """Write the shared CT in layout ``name`` under ``root``; return the inputs to give a command
    (``{"input": path}`` or ``{"image": ..., "label": ...}``) and the label map, if one is needed."""
    root.mkdir(parents=True, exist_ok=True)
    if name in ("totalsegmentator", "totalsegmentator_case", "abdomenatlas"):
        folder = _case_folder(shared, root)
        split_masks(shared, folder / "segmentations", atlas=name == "abdomenatlas")
        return {"input": folder if name.endswith("_case") else root}
    if name in ("totalsegmentator_ml", "totalsegmentator_ml_case"):
        folder = _case_folder(shared, root)
        os.symlink(shared / "seg.nii.gz", folder / "seg.nii.gz")
        return {"input": folder if name.endswith("_case") else root}
    if name == "csv":
        scans, masks = root / "scans", root / "masks" / CASE
        scans.mkdir(parents=True)
        os.symlink(shared / "ct.nii.gz", scans / f"{CASE}.nii.gz")
        split_masks(shared, masks)
        (root / "lists").mkdir()
        table = root / "lists" / "cases.csv"
        table.write_text(f"case_id,image,label\n{CASE},../scans/{CASE}.nii.gz,../masks/{CASE}\n")
        return {"input": table}
    if name == "pair":
        folder = _case_folder(shared, root)
        os.symlink(shared / "seg.nii.gz", folder / "seg.nii.gz")
        return {"image": folder / "ct.nii.gz", "label": folder / "seg.nii.gz"}
    if name == "pair_structures":
        folder = _case_folder(shared, root)
        return {"image": folder / "ct.nii.gz", "label": split_masks(shared, folder / "segmentations")}
    if name == "nnunet":
        (root / "imagesTr").mkdir()
        (root / "labelsTr").mkdir()
        os.symlink(shared / "ct.nii.gz", root / "imagesTr" / f"{CASE}_0000.nii.gz")
        os.symlink(shared / "seg.nii.gz", root / "labelsTr" / f"{CASE}.nii.gz")
        return {"input": root, "label_map": Path("totalsegmentator")}
    raise ValueError(name)


def cli_args(inputs: dict[str, Path]) -> list[str]:
    """The command-line options naming ``inputs``."""
    args = []
    for key, value in inputs.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args
