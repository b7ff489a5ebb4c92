"""The classifier two-sample test: AUC, folds, logistic fit, bootstrap CI, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtumor.realism import classifier_two_sample_test, fit_logistic, mann_whitney_auc, stratified_folds


def test_mann_whitney_auc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=40).astype(float)
    labels = rng.integers(0, 2, size=40)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert mann_whitney_auc(scores, labels) == pytest.approx(pairs)
    assert mann_whitney_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    with pytest.raises(ValueError):
        mann_whitney_auc([0.1, 0.2], [1, 1])


def test_stratified_folds_balance_both_sides():
    labels = np.array([0] * 23 + [1] * 11)
    folds = stratified_folds(labels, 5, np.random.default_rng(3))
    for k in range(5):
        assert 4 <= np.sum((folds == k) & (labels == 0)) <= 5
        assert 2 <= np.sum((folds == k) & (labels == 1)) <= 3
    with pytest.raises(ValueError):
        stratified_folds(np.array([0] * 10 + [1] * 3), 5, np.random.default_rng(0))


def test_logistic_fit_matches_scikit_learn_objective():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 3))
    y = (x @ np.array([1.5, -1.0, 0.0]) + 0.3 * rng.standard_normal(80) > 0).astype(int)
    w, b = fit_logistic(x, y)
    reference = sklearn.LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(x, y)
    assert np.allclose(w, reference.coef_[0], atol=1e-4) and b == pytest.approx(reference.intercept_[0], abs=1e-4)


def test_same_distribution_gives_auc_near_half():
    rng = np.random.default_rng(5)
    real, synthetic = rng.standard_normal((120, 4)), rng.standard_normal((100, 4))
    test = classifier_two_sample_test(real, synthetic, np.random.default_rng(0), n_resamples=500,
                                      n_permutations=30)
    assert abs(test.auc - 0.5) < 0.12
    assert test.ci_low < 0.5 < test.ci_high
    assert test.ci_high - test.ci_low < 0.3
    assert test.chance_low < 0.5 < test.chance_high and test.p_value > 0.05


def test_clearly_different_samples_give_auc_near_one():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((60, 4))
    synthetic = rng.standard_normal((50, 4)) + np.array([3.0, 0.0, 0.0, 0.0])
    synthetic[::7, 1] = np.nan  # a missing value is imputed, not fatal
    test = classifier_two_sample_test(real, synthetic, np.random.default_rng(0), n_resamples=500,
                                      n_permutations=30)
    assert test.auc > 0.95 and test.ci_low > 0.9
    assert test.chance_high < 0.8 and test.p_value == pytest.approx(1 / 31)
    assert np.argmax(np.abs(test.coefficients)) == 0 and test.coefficients[0] > 0


def test_the_same_seed_gives_the_same_result():
    rng = np.random.default_rng(7)
    real, synthetic = rng.standard_normal((30, 3)), rng.standard_normal((25, 3)) + 0.5
    one = classifier_two_sample_test(real, synthetic, np.random.default_rng(11), n_resamples=300, n_permutations=5)
    two = classifier_two_sample_test(real, synthetic, np.random.default_rng(11), n_resamples=300, n_permutations=5)
    assert (one.auc, one.ci_low, one.ci_high, one.p_value) == (two.auc, two.ci_low, two.ci_high, two.p_value)
    assert math.isnan(classifier_two_sample_test(real, synthetic, np.random.default_rng(1), n_resamples=10,
                                                 n_permutations=0).p_value)
    assert np.array_equal(one.scores, two.scores)
