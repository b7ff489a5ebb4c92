"""The report's paired comparison with the real arm, on made-up result rows (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from synthtumor.metrics.summary import bootstrap_ci
from synthtumor.train_seg.paired import case_differences, format_paired_table, paired_differences
from synthtumor.train_seg.report import write_report
from synthtumor.train_seg.study_config import ArmSpec, StudyConfig

CASES = [f"case{i}" for i in range(6)]


def row(arm, n, seed, case, dice, nsd=None, as_text=False):
    out = {"arm": arm, "n_real": n, "seed": seed, "case_id": case, "dice_tumor": dice,
           "nsd_tumor": dice if nsd is None else nsd, "hd95_tumor": 5.0, "dice_organ": 0.9, "nsd_organ": 0.8,
           "lesion_tp": 1, "lesion_fp": 0, "lesion_fn": 0, "burden_abs_err": 1.0}
    return {k: str(v) for k, v in out.items()} if as_text else out


def made_up(cases=CASES, as_text=False):
    """real at n 1 and 3, synthetic at 0, mixed at 1 and 3; seeds 0 and 1; known values."""
    rows = []
    for i, case in enumerate(cases):
        for seed in (0, 1):
            for n in (1, 3):
                rows.append(row("real", n, seed, case, 0.3 + 0.1 * n + 0.01 * i + 0.02 * seed, as_text=as_text))
                rows.append(row("mixed-heuristic-0.5", n, seed, case, 0.4 + 0.1 * n + 0.03 * i - 0.01 * seed,
                                as_text=as_text))
            rows.append(row("synthetic-heuristic", 0, seed, case, 0.45 + 0.02 * (-1) ** i, as_text=as_text))
    return rows


def config(**changes):
    base = dict(name="made-up", scarcity=(1, 3), seeds=(0, 1), n_test=len(CASES),
                arms=(ArmSpec("real"), ArmSpec("synthetic"), ArmSpec("mixed", ratio=0.5)))
    base.update(changes)
    return StudyConfig(**base)


def by_key(rows):
    return {(r["arm"], r["n_real"]): r for r in rows}


def test_difference_mean_and_ci_match_a_hand_computation():
    rows = by_key(paired_differences(made_up(), (1, 3)))
    # mixed - real at n, per case: mean over seeds of (0.1 + 0.02 i - 0.03 seed) = 0.085 + 0.02 i
    hand = np.array([0.085 + 0.02 * i for i in range(len(CASES))])
    got = rows[("mixed-heuristic-0.5", 3)]
    assert got["arm_n_real"] == 3 and got["cases"] == len(CASES)
    assert got["dice_tumor_mean"] == pytest.approx(hand.mean())
    low, high = bootstrap_ci(hand, np.random.default_rng(0))
    assert (got["dice_tumor_ci_low"], got["dice_tumor_ci_high"]) == pytest.approx((low, high))
    assert got["reading"] == "better than real"
    # values read back from results.csv are strings
    text_rows = by_key(paired_differences(made_up(as_text=True), (1, 3)))
    assert text_rows[("mixed-heuristic-0.5", 3)]["dice_tumor_mean"] == pytest.approx(hand.mean())


def test_a_synthetic_arm_is_compared_against_every_real_level():
    rows = paired_differences(made_up(), (1, 3))
    synthetic = [r for r in rows if r["arm"] == "synthetic-heuristic"]
    assert [(r["arm_n_real"], r["n_real"]) for r in synthetic] == [(0, 1), (0, 3)]
    assert [(r["arm"], r["n_real"]) for r in rows if r["arm"].startswith("mixed")] == [
        ("mixed-heuristic-0.5", 1), ("mixed-heuristic-0.5", 3)]
    # synthetic ~0.45 vs real ~0.44 at n 1 (CI spans 0) and ~0.64 at n 3 (worse)
    assert synthetic[0]["reading"] == "no clear difference (CI spans 0)"
    assert synthetic[1]["reading"] == "worse than real"
    # a level the config does not ask for is not compared
    assert {r["n_real"] for r in paired_differences(made_up(), (3,))} == {3}


def test_pairing_is_by_case_and_seed_and_survives_a_missing_seed():
    rows = made_up()
    # the mixed arm lacks seed 1 for case0 and lacks case5 entirely
    rows = [r for r in rows if not (r["arm"].startswith("mixed") and
                                    ((r["case_id"] == "case0" and r["seed"] == 1) or r["case_id"] == "case5"))]
    diffs = case_differences(rows, "mixed-heuristic-0.5", 1, 1)
    assert sorted(diffs) == CASES[:5]
    # case0: seed 0 only, 0.1 - 0 (not the mean over real's two seeds, which would give 0.09)
    assert diffs["case0"] == pytest.approx(0.1)
    assert diffs["case1"] == pytest.approx(0.085 + 0.02)
    # row order shuffled: same pairing
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    assert case_differences(shuffled, "mixed-heuristic-0.5", 1, 1) == pytest.approx(diffs)
    # NaN for a seed is left out of that case like a missing seed
    rows.append(row("mixed-heuristic-0.5", 1, 1, "case0", math.nan))
    assert case_differences(rows, "mixed-heuristic-0.5", 1, 1)["case0"] == pytest.approx(0.1)


def test_no_common_seed_falls_back_to_each_arms_seed_mean():
    rows = [row("real", 1, 0, "a", 0.5), row("real", 1, 1, "a", 0.7), row("mixed", 1, 2, "a", 0.9)]
    assert case_differences(rows, "mixed", 1, 1) == pytest.approx({"a": 0.3})


def test_wilcoxon_p_is_scipys_from_five_cases_and_na_below():
    rows = by_key(paired_differences(made_up(), (1, 3)))
    for key in (("synthetic-heuristic", 1), ("mixed-heuristic-0.5", 1)):
        arm, n = key
        diffs = case_differences(made_up(), arm, 0 if arm.startswith("synthetic") else n, n)
        expected = wilcoxon(np.array([diffs[c] for c in sorted(diffs)])).pvalue
        assert rows[key]["dice_tumor_p"] == pytest.approx(expected)
        assert rows[key]["dice_tumor_p_text"] == f"{expected:.3f}"
    few = by_key(paired_differences(made_up(CASES[:4]), (1, 3)))
    assert all(r["dice_tumor_p"] is None and r["dice_tumor_p_text"] == "n/a (k < 5 cases)" for r in few.values())
    assert few[("mixed-heuristic-0.5", 3)]["reading"].startswith("better than real (only 4 cases")


def test_all_zero_differences_give_p_one():
    rows = [row(arm, 1, 0, c, 0.6) for arm in ("real", "mixed") for c in CASES]
    (got,) = paired_differences(rows, (1,))
    assert got["dice_tumor_p"] == 1.0 and got["dice_tumor_mean"] == 0.0
    assert got["reading"] == "no difference (equal on every case)"


def test_no_real_arm_gives_no_rows():
    rows = [r for r in made_up() if r["arm"] != "real"]
    assert paired_differences(rows, (1, 3)) == []


def test_table_formatting():
    table = format_paired_table(paired_differences(made_up(), (1, 3)))
    lines = table.splitlines()
    assert lines[0].startswith("| arm | vs real at n_real | cases | Δ dice_tumor mean [95 % CI] | Wilcoxon p")
    assert len(lines) == 2 + 4
    assert any(line.startswith("| synthetic-heuristic (0 real) | 3 | 6 | -0.") for line in lines)


def test_write_report_has_the_table_and_the_figure_without_a_test_reference(tmp_path):
    lesions = [{"arm": "real", "n_real": 1, "seed": 0, "side": "ref", "size_bin": "5-10", "matched": "1"}]
    path = write_report(tmp_path, config(), made_up(as_text=True), lesions)
    text = path.read_text()
    assert "## Paired difference to the real arm" in text
    assert format_paired_table(paired_differences(made_up(), (1, 3))) in text
    assert "| synthetic-heuristic (0 real) | 1 |" in text
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert not (tmp_path / "overlays.png").exists() and "overlays.png" not in text
