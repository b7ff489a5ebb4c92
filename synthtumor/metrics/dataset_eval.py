"""Dataset evaluation: segmentation metrics and lesion detection by size, prediction vs reference.

The library side of the ``synthtumor evaluate`` command.

Both folders may follow any layout :func:`synthtumor.io.load_dataset` reads (case folders,
Decathlon, nnU-Net raw, LiTS), or be **labels-only**: plain ``<case_id>.nii.gz`` (or ``.nii``)
label files at the folder's top level, what ``nnUNetv2_predict`` writes (its ``dataset.json`` /
``plans.json`` beside them are fine). Only label files are read, never the images, and every
label is reoriented to RAS+ (``synthtumor.io.nifti.to_ras``) before anything is compared.

Label values: ``label_map`` (a LabelMap, preset name or YAML path) applies to both folders when
given. Otherwise each dataset layout's own map is used; a labels-only folder uses the class names
of its ``dataset.json`` when it has one, else the reference case's map (predictions share the
labels they were trained on).

Cases pair by id; an id on one side only is an error (listing them), as is no common id. Each
prediction must lie on its reference's voxel grid (same RAS shape, corners within a tenth of a
voxel). Per case: organ and tumour metrics (vessels too where both sides define them; see
:mod:`synthtumor.metrics`), lesion matching, tumour burden. Outputs, each written atomically:

* ``OUT/metrics.csv``: one row per case (:func:`synthtumor.metrics.metric_columns`);
* ``OUT/lesions.csv``: one row per reference and per predicted lesion;
* ``OUT/summary.md``: per-metric mean, std, median, bootstrap 95 % CI; sensitivity per size bin;
  false positives per case (also printed unless ``quiet``).

Results are ordered by case id and identical for any number of workers.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthtumor.errors import ConfigError, DatasetLayoutError
from synthtumor.io.case_io import DEFAULT_LABEL_MAP, case_id_from_path, write_text_atomic
from synthtumor.io.output_guard import check_output_apart, check_output_free, only_names
from synthtumor.io.scan_checks import check_organ_present, check_spacing
from synthtumor.io.tables import write_csv_atomic
from synthtumor.io.labelmap import LabelMap, resolve_label_map
from synthtumor.io.layouts import dataset_class_names, load_dataset, visible
from synthtumor.io.nifti import is_nifti, read_nifti, to_ras
from synthtumor.metrics import (
    CLASSES,
    DEFAULT_SIZE_BINS_MM,
    check_same_grid,
    detection_by_size,
    evaluate_masks,
    format_summary,
    lesion_totals,
    metric_columns,
    summarise_metrics,
)
from synthtumor.metrics.lesions import check_size_bins
from synthtumor.parallel import map_with_progress

__all__ = ["LabelSource", "find_label_sources", "run_evaluate", "LESION_COLUMNS", "BOOTSTRAP_RESAMPLES",
           "BOOTSTRAP_SEED"]

LESION_COLUMNS = ("case_id", "side", "lesion", "voxels", "volume_ml", "equivalent_radius_mm", "size_bin",
                  "matched", "match", "iou", "dice")
OUTPUT_FILES = ("metrics.csv", "lesions.csv", "summary.md")
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
_LITS_VOLUME = re.compile(r"^volume-\d+\.nii(\.gz)?$")
_SHOWN = 20


@dataclass(frozen=True)
class LabelSource:
    """Where one case's labels are (picklable, for worker processes).

    Attributes:
        case_id: the case id.
        label: the multi-label NIfTI file.
        label_map: which values are organ / vessels / tumour; None: decided when pairing.
        vessels: an extra binary vessel file (case-folder layout), or None.
    """

    case_id: str
    label: Path
    label_map: LabelMap | None
    vessels: Path | None = None


def _is_labels_only(root: Path) -> bool:
    files = [p for p in root.iterdir() if p.is_file() and visible(p) and is_nifti(p)]
    return bool(files) and not (root / "imagesTr").is_dir() and not any(_LITS_VOLUME.match(p.name) for p in files)


def _names_from_dataset_json(root: Path) -> LabelMap | None:
    names = dataset_class_names(root)
    return LabelMap.from_names(names, name=f"{root.name}/dataset.json") if names else None


def find_label_sources(
    path: str | os.PathLike, label_map: LabelMap | str | os.PathLike | None = None, *, what: str = "reference"
) -> dict[str, LabelSource]:
    """The label file of every case in a folder, by case id.

    Args:
        path: a dataset folder in any layout, or a labels-only folder of ``<case_id>.nii.gz``.
        label_map: overrides the layout's label roles.
        what: ``"reference"`` or ``"prediction"``, for messages.

    Raises:
        DatasetLayoutError: the folder is missing, unreadable as a dataset, or a case has no label.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetLayoutError(f"the {what} folder {root} does not exist.", fix="check the path.")
    lm = resolve_label_map(label_map)
    if _is_labels_only(root):
        lm = lm or _names_from_dataset_json(root)
        sources: dict[str, LabelSource] = {}
        for file in sorted(p for p in root.iterdir() if p.is_file() and visible(p) and is_nifti(p)):
            case_id = case_id_from_path(file)
            if case_id in sources:
                raise DatasetLayoutError(f"{root}: case id {case_id!r} has two label files.",
                                         fix="keep one of .nii and .nii.gz.")
            sources[case_id] = LabelSource(case_id, file, lm)
        return sources
    dataset = load_dataset(root, lm, expect_ct=False)
    sources = {}
    for ref in dataset.refs:
        if ref.label is None:
            raise DatasetLayoutError(
                f"the {what} case has no label file in {root} ({dataset.layout} layout).",
                case=ref.case_id, fix=f"add its label file, or remove the case from the {what} folder.")
        sources[ref.case_id] = LabelSource(ref.case_id, ref.label, ref.label_map, ref.vessels)
    return sources


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    return shown + (f" ... ({len(ids)} in all)" if len(ids) > _SHOWN else "")


def _pair(pred: dict[str, LabelSource], ref: dict[str, LabelSource], pred_root: Path,
          ref_root: Path) -> list[tuple[LabelSource, LabelSource]]:
    common = sorted(set(pred) & set(ref))
    if not common:
        raise DatasetLayoutError(
            f"no case id is in both the prediction folder {pred_root} ({_ids(sorted(pred))}) and the "
            f"reference folder {ref_root} ({_ids(sorted(ref))}).",
            fix="name each prediction by its reference case id (nnU-Net: <case_id>.nii.gz).")
    missing, extra = sorted(set(ref) - set(pred)), sorted(set(pred) - set(ref))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference case(s) have no prediction: {_ids(missing)}")
        if extra:
            parts.append(f"{len(extra)} prediction(s) have no reference: {_ids(extra)}")
        raise DatasetLayoutError(
            "; ".join(parts) + f" ({len(common)} cases pair).",
            fix="predict every reference case and drop extra predictions, or evaluate folders holding "
            "the same cases.")
    pairs = []
    for case_id in common:
        p, r = pred[case_id], ref[case_id]
        r_map = r.label_map or DEFAULT_LABEL_MAP
        pairs.append((LabelSource(p.case_id, p.label, p.label_map or r_map, p.vessels),
                      LabelSource(r.case_id, r.label, r_map, r.vessels)))
    return pairs


def _read_label(path: Path, case_id: str) -> tuple[np.ndarray, np.ndarray]:
    data, source = read_nifti(path, case=case_id, integer=True)
    array, affine = to_ras(data, source.affine)
    return np.ascontiguousarray(array), affine


def _read_masks(
    src: LabelSource, what: str
) -> tuple[dict[str, np.ndarray | None], np.ndarray, tuple[int, ...]]:
    label, affine = _read_label(src.label, src.case_id)
    cut = (src.label_map or DEFAULT_LABEL_MAP).masks(label, case=src.case_id)
    masks = {"organ": cut.organ, "tumor": cut.tumor, "vessels": cut.vessels}
    if src.vessels is not None:
        extra, extra_affine = _read_label(src.vessels, src.case_id)
        check_same_grid(extra_affine, extra.shape, affine, label.shape, case_id=src.case_id,
                        what=f"the {what} vessel file {src.vessels.name}")
        masks["vessels"] = extra > 0 if masks["vessels"] is None else masks["vessels"] | (extra > 0)
    return masks, affine, tuple(label.shape)


@dataclass(frozen=True)
class _Job:
    pred: LabelSource
    ref: LabelSource
    nsd_tolerance_mm: float
    iou_threshold: float
    size_bins: tuple[float, ...]


def _evaluate_job(job: _Job) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ref_masks, ref_affine, ref_shape = _read_masks(job.ref, "reference")
    pred_masks, pred_affine, pred_shape = _read_masks(job.pred, "prediction")
    check_same_grid(pred_affine, pred_shape, ref_affine, ref_shape, case_id=job.ref.case_id,
                    what=f"the prediction {job.pred.label.name}")
    spacing = tuple(float(s) for s in np.linalg.norm(ref_affine[:3, :3], axis=0))
    check_spacing(spacing, job.ref.case_id)
    check_organ_present(ref_masks["organ"], job.ref.case_id, (job.ref.label_map or DEFAULT_LABEL_MAP).name)
    result = evaluate_masks(pred_masks, ref_masks, spacing, case_id=job.ref.case_id, classes=CLASSES,
                            nsd_tolerance_mm=job.nsd_tolerance_mm, iou_threshold=job.iou_threshold,
                            size_bins=job.size_bins)
    return result.metrics, result.lesion_rows()


def _check_options(nsd_tolerance_mm: float, iou_threshold: float, size_bins: Sequence[float],
                   workers: int) -> tuple[float, ...]:
    if not math.isfinite(nsd_tolerance_mm) or nsd_tolerance_mm < 0:
        raise ConfigError(f"the NSD tolerance must be a finite distance >= 0 mm, got {nsd_tolerance_mm}.",
                          fix="pass e.g. --nsd-tolerance 2.")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ConfigError(f"the lesion-matching IoU threshold must lie in [0, 1], got {iou_threshold}.")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}.")
    try:
        return check_size_bins(size_bins)
    except ValueError as exc:
        raise ConfigError(str(exc), fix="give increasing radii in mm, e.g. 0 5 10 inf.") from None


def run_evaluate(
    pred: str | os.PathLike,
    ref: str | os.PathLike,
    out: str | os.PathLike,
    *,
    label_map: LabelMap | str | os.PathLike | None = None,
    nsd_tolerance_mm: float = 2.0,
    workers: int = 1,
    quiet: bool = False,
    iou_threshold: float = 0.1,
    size_bins_mm: Sequence[float] = DEFAULT_SIZE_BINS_MM,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate a prediction folder against a reference folder (see module docstring).

    Args:
        pred: the prediction folder (any layout, or labels-only ``<case_id>.nii.gz`` files).
        ref: the reference folder (any layout, or labels-only).
        out: the output folder (created); must not be ``pred`` or ``ref`` itself.
        label_map: label roles for both folders (LabelMap, preset name or YAML path).
        nsd_tolerance_mm: NSD tolerance in mm.
        workers: worker processes (the output does not depend on it).
        quiet: no progress bar and no summary on stdout.
        iou_threshold: the IoU a predicted and a reference lesion need to match.
        size_bins_mm: equivalent-radius bin edges (mm) for detection by size.
        overwrite: write into a non-empty ``out`` holding other files than an earlier evaluation's.

    Returns:
        The ``metrics.csv`` rows, one dict per case, ordered by case id.

    Raises:
        ConfigError: an option is out of range, ``out`` overlaps an input folder, or holds other files.
        DatasetLayoutError: a folder is unreadable, or case ids do not pair.
        InvalidCaseError: a prediction is not on its reference's grid.
        LabelMapError: a label file holds values its label map does not know.
        CaseFileError: a label file is missing or corrupt.
    """
    edges = _check_options(nsd_tolerance_mm, iou_threshold, size_bins_mm, workers)
    pred_root, ref_root, out_root = Path(pred), Path(ref), Path(out)
    check_output_apart(out_root, {"prediction folder": pred_root, "reference folder": ref_root})
    check_output_free(out_root, "evaluate", only_names(*OUTPUT_FILES), overwrite=overwrite)
    pairs = _pair(find_label_sources(pred_root, label_map, what="prediction"),
                  find_label_sources(ref_root, label_map, what="reference"), pred_root, ref_root)
    jobs = [_Job(p, r, float(nsd_tolerance_mm), float(iou_threshold), edges) for p, r in pairs]
    results = map_with_progress(_evaluate_job, jobs, workers=workers, quiet=quiet, desc="evaluate")
    rows = [r for r, _ in results]
    lesion_rows = [les for _, lesions in results for les in lesions]
    classes = [c for c in CLASSES if c != "vessels" or any(not math.isnan(r["dice_vessels"]) for r in rows)]
    columns = metric_columns(classes)
    rows = [{c: r[c] for c in columns} for r in rows]
    out_root.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(rows, columns, out_root / "metrics.csv")
    write_csv_atomic(lesion_rows, LESION_COLUMNS, out_root / "lesions.csv")
    summary = format_summary(
        summarise_metrics(rows, columns[1:], seed=BOOTSTRAP_SEED, n_resamples=BOOTSTRAP_RESAMPLES),
        detection_by_size(lesion_rows, edges),
        lesion_totals(rows, lesion_rows),
        notes=[
            f"prediction: `{pred_root}`; reference: `{ref_root}`; {len(rows)} cases; classes: {', '.join(classes)}",
            f"NSD tolerance {nsd_tolerance_mm:g} mm; HD95 and ASSD of a class empty on one side only = the "
            "grid diagonal (mm); lesions matched one-to-one (Hungarian on IoU) at IoU >= "
            f"{iou_threshold:g}, 26-connected",
        ],
        n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED,
    )
    write_text_atomic(summary, out_root / "summary.md")
    if not quiet:
        print(summary)
    return rows
