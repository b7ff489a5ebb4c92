"""Classifier two-sample test: can a simple classifier tell real from synthetic lesions?

* Classifier: L2-regularised logistic regression on standardised features, fitted by Newton's
  method with backtracking (a (d+1) x (d+1) solve per step), objective
  ``0.5 ||w||^2 + C sum_i log(1 + exp(-y_i (w . x_i + b)))`` with ``C = 1`` and an unpenalised
  intercept (scikit-learn's ``LogisticRegression()`` objective; no extra dependency).
  Standardisation uses the training fold's mean and standard deviation (a constant feature
  becomes 0); a NaN feature value is replaced by 0 after standardisation, i.e. by the training
  mean.
* Cross-validation: stratified k-fold (default 5), repeated (default 5 times): each repeat
  permutes the real and the synthetic lesions with an explicit ``numpy.random.Generator`` and
  deals them round-robin into the folds, so every fold holds both sides in about their overall
  ratio. A lesion's score ``P(synthetic)`` is the mean of its out-of-fold scores over the
  repeats (each from a model fitted without it), which damps the luck of one fold split.
* AUC through the Mann-Whitney U statistic, ``AUC = (R_syn - n_syn (n_syn + 1) / 2) /
  (n_syn n_real)`` with ``R_syn`` the sum of the synthetic lesions' ranks among all scores (ties
  get average ranks): the probability that a random synthetic lesion scores above a random real
  one. 0.5: the classifier cannot tell the sides apart; 1.0: it separates them perfectly.
* 95 % CI: percentile bootstrap over lesions, ``n_resamples`` (2000) stratified resamples
  (real and synthetic lesions each drawn with replacement, keeping each side's count) of the
  out-of-fold scores, AUC recomputed on each, the 2.5th and 97.5th percentiles. The classifier
  is not refitted per resample, so the interval covers the sampling of lesions given the scores,
  not the fitting's variance; lesions of one case are treated as independent, which narrows it
  when a dataset has many lesions per case.
* Chance level: with few lesions a cross-validated AUC strays far from 0.5 by chance (about
  +-0.2 at 20 lesions per side), and lesions that cluster (several per scan) pull it below 0.5:
  a held-out lesion leaves its own side's training set, which then looks a little less like
  it. So the whole procedure is
  also run on ``n_permutations`` (200) random relabellings of the lesions (side counts kept):
  the central 95 % of those AUCs is the chance band, and the one-sided permutation p-value
  ``(1 + #{AUC_perm >= AUC}) / (1 + n_permutations)`` says how often chance alone reaches the
  observed AUC.

Random draws, all from the one generator, in this order: the observed repeats' folds, the
bootstrap resamples, then per permutation the relabelling and its folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit
from scipy.stats import rankdata

__all__ = [
    "ClassifierTest",
    "classifier_two_sample_test",
    "cross_validated_scores",
    "fit_logistic",
    "mann_whitney_auc",
    "stratified_folds",
    "standardise",
]

_BATCH = 256
_NEWTON_STEPS = 100
_TOLERANCE = 1e-10


def mann_whitney_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC of ``scores`` for ``labels`` (1 positive, 0 negative) via the Mann-Whitney U statistic.

    Raises:
        ValueError: a class is empty or shapes differ.
    """
    scores, labels = np.asarray(scores, np.float64).ravel(), np.asarray(labels).astype(bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in length: {scores.size} vs {labels.size}")
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("mann_whitney_auc needs both classes")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _batched_auc(scores: np.ndarray, n_neg: int) -> np.ndarray:
    """AUC per row of ``scores`` (B, n_neg + n_pos): negatives first, then positives."""
    n_pos = scores.shape[1] - n_neg
    ranks = rankdata(scores, axis=1)
    return (ranks[:, n_neg:].sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def stratified_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number (0..folds-1) per sample: each class permuted by ``rng``, dealt round-robin.

    Raises:
        ValueError: ``folds`` < 2 or a class has fewer samples than folds.
    """
    labels = np.asarray(labels).ravel()
    out = np.empty(labels.size, dtype=np.int64)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        if folds < 2 or members.size < folds:
            raise ValueError(f"{folds} folds need >= 2 folds and >= {folds} samples per class, "
                             f"class {value!r} has {members.size}")
        out[rng.permutation(members)] = np.arange(members.size) % folds
    return out


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale by the training rows' nan-mean and nan-std; constant columns and NaNs become 0."""
    finite = np.isfinite(train)
    count = finite.sum(axis=0)
    safe = np.where(finite, train, 0.0)
    mean = safe.sum(axis=0) / np.maximum(count, 1)
    std = np.sqrt((np.where(finite, train - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1))
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, np.inf)

    def scaled(x: np.ndarray) -> np.ndarray:
        z = (x - mean) / std
        return np.where(np.isfinite(z), z, 0.0)

    return scaled(train), scaled(test)


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (see module docstring): ``(weights, intercept)``.

    Args:
        x: (n, d) standardised features, finite.
        y: (n,) labels 0 / 1.
        c: inverse regularisation strength (> 0).
    """
    x = np.asarray(x, np.float64)
    sign = np.where(np.asarray(y).astype(bool), 1.0, -1.0)
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    ridge = np.ones(d + 1)
    ridge[d] = 0.0  # the intercept is not penalised

    def loss(theta: np.ndarray) -> float:
        return 0.5 * float((ridge * theta) @ theta) - c * float(log_expit(sign * (design @ theta)).sum())

    theta = np.zeros(d + 1)
    current = loss(theta)
    for _ in range(_NEWTON_STEPS):
        margin = sign * (design @ theta)
        grad = ridge * theta - c * design.T @ (sign * expit(-margin))
        if np.abs(grad).max() < _TOLERANCE * max(1.0, c * n):
            break
        p = expit(margin)
        hessian = (design.T * (c * p * (1.0 - p))) @ design + np.diag(ridge) + 1e-12 * np.eye(d + 1)
        step = np.linalg.solve(hessian, grad)
        rate = 1.0
        while rate > 1e-8:  # backtracking keeps every Newton step a descent step
            candidate = theta - rate * step
            new = loss(candidate)
            if new <= current - 1e-4 * rate * float(grad @ step):
                break
            rate *= 0.5
        else:
            break
        theta, current = candidate, new
    return theta[:d].copy(), float(theta[d])


@dataclass(frozen=True)
class ClassifierTest:
    """Result of :func:`classifier_two_sample_test` (see module docstring).

    Attributes:
        auc: cross-validated AUC (0.5: indistinguishable, 1: perfectly separable).
        ci_low: lower end of its bootstrap confidence interval.
        ci_high: upper end.
        confidence: the interval's coverage (0.95).
        folds: cross-validation folds.
        repeats: repeats of the fold split.
        n_real: real lesions.
        n_synthetic: synthetic lesions.
        n_resamples: bootstrap resamples.
        n_permutations: label permutations (0: no chance band).
        chance_low: 2.5th percentile of the permuted AUCs (NaN without permutations).
        chance_high: 97.5th percentile of the permuted AUCs.
        p_value: one-sided permutation p-value of the AUC (NaN without permutations).
        scores: out-of-fold ``P(synthetic)`` per lesion (mean over repeats), real lesions first.
        coefficients: weights of a model fitted on all lesions (per standard deviation of each
            feature; positive: larger values look synthetic).
    """

    auc: float
    ci_low: float
    ci_high: float
    confidence: float
    folds: int
    repeats: int
    n_real: int
    n_synthetic: int
    n_resamples: int
    n_permutations: int
    chance_low: float
    chance_high: float
    p_value: float
    scores: np.ndarray
    coefficients: np.ndarray


def cross_validated_scores(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, folds: int = 5, repeats: int = 5, c: float = 1.0
) -> np.ndarray:
    """Out-of-fold ``P(y = 1)`` per row, averaged over ``repeats`` stratified k-fold splits."""
    scores = np.zeros(len(y))
    for _ in range(repeats):
        fold = stratified_folds(y, folds, rng)
        for k in range(folds):
            test = fold == k
            train_x, test_x = standardise(x[~test], x[test])
            w, b = fit_logistic(train_x, y[~test], c)
            scores[test] += expit(test_x @ w + b)
    return scores / repeats


def classifier_two_sample_test(
    real: np.ndarray,
    synthetic: np.ndarray,
    rng: np.random.Generator,
    *,
    folds: int = 5,
    repeats: int = 5,
    n_resamples: int = 2000,
    n_permutations: int = 200,
    confidence: float = 0.95,
    c: float = 1.0,
) -> ClassifierTest:
    """Cross-validated AUC of a logistic regression telling synthetic from real rows.

    Args:
        real: (n_real, d) features of real lesions (NaN allowed).
        synthetic: (n_synthetic, d) features of synthetic lesions.
        rng: draws the folds, the bootstrap resamples and the permutations.
        folds: stratified folds (>= 2; each side needs at least this many rows).
        repeats: repeats of the fold split (>= 1).
        n_resamples: bootstrap resamples for the CI (>= 1).
        n_permutations: label permutations for the chance band and p-value (>= 0).
        confidence: the CI's coverage, in (0, 1).
        c: inverse L2 strength of the logistic regression.

    Raises:
        ValueError: bad shapes or options, or a side with fewer rows than folds.
    """
    real, synthetic = np.atleast_2d(np.asarray(real, np.float64)), np.atleast_2d(np.asarray(synthetic, np.float64))
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"real and synthetic features differ in width: {real.shape[1]} vs {synthetic.shape[1]}")
    if n_resamples < 1 or repeats < 1 or n_permutations < 0 or not 0.0 < confidence < 1.0 or not c > 0:
        raise ValueError("need n_resamples >= 1, repeats >= 1, n_permutations >= 0, 0 < confidence < 1, c > 0; "
                         f"got {n_resamples}, {repeats}, {n_permutations}, {confidence}, {c}")
    x = np.vstack([real, synthetic])
    y = np.concatenate([np.zeros(len(real), np.int64), np.ones(len(synthetic), np.int64)])
    scores = cross_validated_scores(x, y, rng, folds=folds, repeats=repeats, c=c)
    auc = mann_whitney_auc(scores, y)
    n_r, n_s = len(real), len(synthetic)
    aucs = []
    for start in range(0, n_resamples, _BATCH):
        size = min(_BATCH, n_resamples - start)
        pick_r = rng.integers(0, n_r, size=(size, n_r))
        pick_s = rng.integers(0, n_s, size=(size, n_s))
        aucs.append(_batched_auc(np.hstack([scores[:n_r][pick_r], scores[n_r:][pick_s]]), n_r))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(np.concatenate(aucs), [100.0 * alpha, 100.0 * (1.0 - alpha)])
    null = np.array([mann_whitney_auc(cross_validated_scores(x, shuffled, rng, folds=folds, repeats=repeats, c=c),
                                      shuffled)
                     for shuffled in (rng.permutation(y) for _ in range(n_permutations))])
    if null.size:
        chance_low, chance_high = (float(v) for v in np.percentile(null, [2.5, 97.5]))
        p_value = float((1 + np.count_nonzero(null >= auc)) / (1 + null.size))
    else:
        chance_low = chance_high = p_value = float("nan")
    all_x, _ = standardise(x, x[:0])
    weights, _ = fit_logistic(all_x, y, c)
    return ClassifierTest(
        auc=auc, ci_low=float(low), ci_high=float(high), confidence=float(confidence), folds=int(folds),
        repeats=int(repeats), n_real=n_r, n_synthetic=n_s, n_resamples=int(n_resamples),
        n_permutations=int(n_permutations), chance_low=chance_low, chance_high=chance_high, p_value=p_value,
        scores=scores, coefficients=weights,
    )
