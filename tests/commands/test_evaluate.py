"""``run_evaluate`` end to end on tiny case folders and an nnU-Net-style labels-only folder."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtumor import Case
from synthtumor.commands.evaluate import LESION_COLUMNS, run_evaluate
from synthtumor.errors import ConfigError, DatasetLayoutError, InvalidCaseError, LabelMapError
from synthtumor.io import save_case

SPACING = (1.5, 1.5, 3.0)
SHAPE = (36, 32, 14)
PER_CLASS = ("dice", "jaccard", "precision", "recall", "fpr", "fnr", "hd95", "assd", "nsd", "cldice",
             "b0", "b1", "euler", "volume_ml")


def affine(offset=(10.0, -20.0, 5.0)):
    a = np.diag([*SPACING, 1.0])
    a[:3, 3] = offset
    return a


def ellipsoid(centre, radii):
    x, y, z = np.meshgrid(*[np.arange(n) * s for n, s in zip(SHAPE, SPACING)], indexing="ij", sparse=True)
    return sum(((g - c) / r) ** 2 for g, c, r in zip((x, y, z), centre, radii)) <= 1.0


def make_case(case_id, organ_shift=0.0, lesions=(), vessels=False):
    organ = ellipsoid((27.0 + organ_shift, 24.0, 20.0), (20.0, 17.0, 14.0))
    tumor = np.zeros(SHAPE, bool)
    for centre, radius in lesions:
        tumor |= ellipsoid(centre, (radius, radius, radius))
    tumor &= organ
    image = np.full(SHAPE, -1000.0, np.float32)
    image[organ] = 100.0
    vessel = ellipsoid((27.0, 24.0, 20.0), (18.0, 2.0, 2.0)) & organ & ~tumor if vessels else None
    return Case(image=image, affine=affine(), case_id=case_id, organ=organ, tumor=tumor, vessels=vessel)


REF_LESIONS = {
    "case_a": [((20.0, 20.0, 20.0), 4.5), ((36.0, 28.0, 20.0), 7.0)],
    "case_b": [((27.0, 24.0, 20.0), 5.0)],
    "case_c": [],
}
PRED_LESIONS = {
    "case_a": [((21.5, 20.0, 20.0), 4.5)],  # misses the larger lesion
    "case_b": [((27.0, 24.0, 20.0), 5.0), ((15.0, 30.0, 18.0), 3.0)],  # one false positive
    "case_c": [],
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    for case_id in REF_LESIONS:
        save_case(make_case(case_id, lesions=REF_LESIONS[case_id]), root / "ref")
        save_case(make_case(case_id, organ_shift=1.5, lesions=PRED_LESIONS[case_id]), root / "pred")
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_end_to_end_on_case_folders(folders, tmp_path, capsys):
    rows = run_evaluate(folders / "pred", folders / "ref", tmp_path / "out")
    assert [r["case_id"] for r in rows] == ["case_a", "case_b", "case_c"]
    table = read_csv(tmp_path / "out" / "metrics.csv")
    columns = list(table[0])
    expected = ["case_id"] + [f"{m}_{c}" for c in ("organ", "tumor") for m in PER_CLASS]
    assert set(expected) <= set(columns) and columns[0] == "case_id"
    assert columns[-6:] == ["lesion_tp", "lesion_fp", "lesion_fn", "burden_ref", "burden_pred", "burden_abs_err"]
    assert not any(c.endswith("_vessels") for c in columns)
    by_id = {r["case_id"]: r for r in table}
    assert (by_id["case_a"]["lesion_tp"], by_id["case_a"]["lesion_fn"]) == ("1", "1")
    assert (by_id["case_b"]["lesion_tp"], by_id["case_b"]["lesion_fp"]) == ("1", "1")
    assert float(by_id["case_c"]["dice_tumor"]) == 1.0 and by_id["case_c"]["precision_tumor"] == "nan"
    assert 0.8 < float(by_id["case_a"]["dice_organ"]) < 1.0

    lesions = read_csv(tmp_path / "out" / "lesions.csv")
    assert list(lesions[0]) == list(LESION_COLUMNS)
    assert sum(r["side"] == "ref" for r in lesions) == 3 and sum(r["side"] == "pred" for r in lesions) == 3
    assert {r["size_bin"] for r in lesions} <= {"[0, 5)", "[5, 10)", "[10, inf)"}

    summary = (tmp_path / "out" / "summary.md").read_text()
    for needle in ("| dice_organ | 3 | 0 |", "| precision_tumor | 2 | 1 |", "## Lesion detection by size",
                   "| all | 3 | 2 | 0.6667 |", "false positives per case: mean 0.3333"):
        assert needle in summary
    assert summary in capsys.readouterr().out


def test_quiet_prints_nothing_and_workers_give_identical_bytes(folders, tmp_path, capsys):
    run_evaluate(folders / "pred", folders / "ref", tmp_path / "one", quiet=True)
    assert capsys.readouterr().out == ""
    run_evaluate(folders / "pred", folders / "ref", tmp_path / "two", workers=2, quiet=True)
    for name in ("metrics.csv", "lesions.csv", "summary.md"):
        one = (tmp_path / "one" / name).read_text()
        two = (tmp_path / "two" / name).read_text()
        assert one == two.replace(str(tmp_path / "two"), str(tmp_path / "one")), name


def write_labels_only(folder: Path, case: Case, *, lps: bool = True, dataset_json: bool = True) -> None:
    """An nnU-Net prediction file ``<id>.nii.gz``, on disk in LPS order, without its image."""
    folder.mkdir(parents=True, exist_ok=True)
    label, aff = case.label, case.affine.copy()
    if lps:  # flip x and y; the world geometry stays the same
        label = label[::-1, ::-1, :]
        for axis in (0, 1):
            aff[:3, 3] += aff[:3, axis] * (SHAPE[axis] - 1)
            aff[:3, axis] *= -1
    img = nib.Nifti1Image(np.ascontiguousarray(label).astype(np.uint8), aff)
    img.set_qform(aff, 1)
    img.set_sform(aff, 1)
    nib.save(img, str(folder / f"{case.case_id}.nii.gz"))
    if dataset_json:
        (folder / "dataset.json").write_text(json.dumps(
            {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "tumor": 2},
             "file_ending": ".nii.gz"}))
        (folder / "plans.json").write_text("{}")


def test_labels_only_prediction_folder_matches_case_folders(folders, tmp_path):
    for case_id in REF_LESIONS:
        write_labels_only(tmp_path / "nnunet", make_case(case_id, organ_shift=1.5, lesions=PRED_LESIONS[case_id]))
    from_labels = run_evaluate(tmp_path / "nnunet", folders / "ref", tmp_path / "a", quiet=True)
    from_cases = run_evaluate(folders / "pred", folders / "ref", tmp_path / "b", quiet=True)
    for a, b in zip(from_labels, from_cases):
        assert list(a) == list(b)
        for key, value in b.items():
            both_nan = isinstance(value, float) and math.isnan(value) and math.isnan(a[key])
            assert both_nan or a[key] == value, key


def test_vessels_are_evaluated_where_both_sides_have_them(tmp_path):
    for side in ("ref", "pred"):
        save_case(make_case("v1", organ_shift=0.0 if side == "ref" else 1.5, vessels=True), tmp_path / side)
    rows = run_evaluate(tmp_path / "pred", tmp_path / "ref", tmp_path / "out", quiet=True)
    assert 0.0 < rows[0]["dice_vessels"] <= 1.0 and "cldice_vessels" in read_csv(tmp_path / "out" / "metrics.csv")[0]


def test_unpaired_ids_are_listed(folders, tmp_path):
    write_labels_only(tmp_path / "p", make_case("case_a"), dataset_json=False)
    write_labels_only(tmp_path / "p", make_case("case_zz"), dataset_json=False)
    with pytest.raises(DatasetLayoutError, match=r"case_b, case_c.*case_zz"):
        run_evaluate(tmp_path / "p", folders / "ref", tmp_path / "out", quiet=True)


def test_no_common_id_is_an_error(folders, tmp_path):
    write_labels_only(tmp_path / "p", make_case("other"), dataset_json=False)
    with pytest.raises(DatasetLayoutError, match="no case id is in both"):
        run_evaluate(tmp_path / "p", folders / "ref", tmp_path / "out", quiet=True)


def test_prediction_off_the_reference_grid_names_the_case(tmp_path):
    save_case(make_case("g1"), tmp_path / "ref")
    moved = make_case("g1")
    moved = moved.replace(affine=affine(offset=(30.0, -20.0, 5.0)))
    write_labels_only(tmp_path / "p", moved, dataset_json=False)
    with pytest.raises(InvalidCaseError, match="g1.*affines disagree"):
        run_evaluate(tmp_path / "p", tmp_path / "ref", tmp_path / "out", quiet=True)


def test_errors_cross_worker_processes_with_their_message(folders, tmp_path):
    for case_id in ("case_a", "case_b", "case_c"):
        (tmp_path / "p").mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(np.full(SHAPE, 9, np.uint8), affine()), str(tmp_path / "p" / f"{case_id}.nii.gz"))
    with pytest.raises(LabelMapError, match="case_a.*values \\[9\\].*--label-map"):
        run_evaluate(tmp_path / "p", folders / "ref", tmp_path / "out", workers=2, quiet=True)


def test_unknown_label_values_and_bad_options(tmp_path):
    save_case(make_case("u1"), tmp_path / "ref")
    tmp_path.joinpath("p").mkdir()
    img = nib.Nifti1Image(np.full(SHAPE, 7, np.uint8), affine())
    nib.save(img, str(tmp_path / "p" / "u1.nii.gz"))
    with pytest.raises(LabelMapError, match="u1"):
        run_evaluate(tmp_path / "p", tmp_path / "ref", tmp_path / "out", quiet=True)
    with pytest.raises(ConfigError):
        run_evaluate(tmp_path / "p", tmp_path / "ref", tmp_path / "out", nsd_tolerance_mm=-1.0, quiet=True)
    with pytest.raises(ConfigError):
        run_evaluate(tmp_path / "p", tmp_path / "ref", tmp_path / "p", quiet=True)
    with pytest.raises(DatasetLayoutError):
        run_evaluate(tmp_path / "missing", tmp_path / "ref", tmp_path / "out", quiet=True)
