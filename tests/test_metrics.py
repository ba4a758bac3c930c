"""Metrics on tiny hand-checkable lists, boundaries included; ties are order-independent."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from introrank.training.metrics import (
    brier_score,
    expected_calibration_error,
    mean_average_precision,
    ndcg_at_k,
    recall_at_k,
)

Q = np.array([0, 0, 0, 0])
Y = np.array([0, 1, 0, 1])


def test_perfect_ranking_scores_one():
    assert ndcg_at_k(Q, Y, Y.astype(float), 10) == pytest.approx(1.0)
    assert mean_average_precision(Q, Y, Y.astype(float)) == pytest.approx(1.0)
    assert recall_at_k(Q, Y, Y.astype(float), 2) == pytest.approx(1.0)


def test_hand_computed_ndcg():
    score = np.array([4.0, 3.0, 2.0, 1.0])  # positives at ranks 2 and 4
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    ideal = 1 / np.log2(2) + 1 / np.log2(3)
    assert ndcg_at_k(Q, Y, score, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(Q, Y, score, 1) == pytest.approx(0.0)
    assert recall_at_k(Q, Y, score, 2) == pytest.approx(0.5)
    assert mean_average_precision(Q, Y, score) == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_queries_without_positives_are_ignored():
    q = np.array([0, 0, 1, 1])
    y = np.array([1, 0, 0, 0])
    assert ndcg_at_k(q, y, np.array([1.0, 0.0, 5.0, 3.0]), 10) == pytest.approx(1.0)


def test_no_positive_anywhere_is_nan():
    assert np.isnan(ndcg_at_k(Q, np.zeros(4), np.arange(4.0), 10))


def _tied_queries(seed: int, n_queries: int = 40, size: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer scores in 0..3 (ties everywhere, as a count baseline gives) and 1-3 positives per query."""
    rng = np.random.default_rng(seed)
    label = np.zeros((n_queries, size))
    for row in label:
        row[rng.choice(size, rng.integers(1, 4), replace=False)] = 1
    score = rng.integers(0, 4, (n_queries, size)).astype(float)
    return np.repeat(np.arange(n_queries), size), label.ravel(), score.ravel()


@pytest.mark.parametrize("k", [1, 3, 5, 10, 12])
def test_ndcg_on_tied_scores_equals_sklearn(k):
    q, y, s = _tied_queries(seed=k)
    n = len(np.unique(q))
    assert ndcg_at_k(q, y, s, k) == pytest.approx(ndcg_score(y.reshape(n, -1), s.reshape(n, -1), k=k), abs=1e-12)


def test_all_tied_is_the_mean_gain_at_every_position():
    score = np.zeros(4)  # Y has 2 positives in 4: each position holds half a positive
    expected = 0.5 * sum(1 / np.log2(r + 1) for r in (1, 2, 3, 4)) / (1 + 1 / np.log2(3))
    assert ndcg_at_k(Q, Y, score, 10) == pytest.approx(expected)
    assert recall_at_k(Q, Y, score, 1) == pytest.approx(0.25)


def _expected_over_tie_orders(metric, label: np.ndarray, score: np.ndarray) -> float:
    """The metric averaged over every placement of each tie group's positives among its positions
    (under a uniformly random order of a group, every placement is equally likely)."""
    order = np.argsort(-score, kind="stable")
    label, score = label[order], score[order]
    groups = [np.flatnonzero(score == value) for value in np.unique(score)[::-1]]
    placements = [itertools.combinations(g, int(label[g].sum())) for g in groups]
    strict = np.arange(len(label), 0, -1, dtype=float)  # position order, no ties
    q = np.zeros(len(label), dtype=int)
    values = []
    for chosen in itertools.product(*map(list, placements)):
        arranged = np.zeros(len(label))
        arranged[[i for positions in chosen for i in positions]] = 1
        values.append(metric(q, arranged, strict))
    return float(np.mean(values))


@pytest.mark.parametrize("score", [[2, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [3, 2, 2, 2, 1, 1]])
def test_recall_and_map_are_their_expectation_over_tie_orders(score):
    label = np.array([0, 1, 0, 1, 1, 0], dtype=float)
    score = np.array(score, dtype=float)
    q = np.zeros(len(label), dtype=int)
    assert mean_average_precision(q, label, score) == pytest.approx(
        _expected_over_tie_orders(mean_average_precision, label, score), abs=1e-9)
    for k in (1, 2, 3, 5):
        recall = lambda q_, y_, s_, k=k: recall_at_k(q_, y_, s_, k)  # noqa: E731
        ndcg = lambda q_, y_, s_, k=k: ndcg_at_k(q_, y_, s_, k)  # noqa: E731
        assert recall_at_k(q, label, score, k) == pytest.approx(_expected_over_tie_orders(recall, label, score))
        assert ndcg_at_k(q, label, score, k) == pytest.approx(_expected_over_tie_orders(ndcg, label, score))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permuting_rows_changes_no_metric(seed):
    q, y, s = _tied_queries(seed=seed + 100)
    q = np.where(q % 3 == 0, -1, q)  # a few queries merged: unequal sizes
    s[::7] = np.nan  # unscored rows tie at the bottom
    shuffled = np.random.default_rng(seed).permutation(len(q))
    metrics = {
        "ndcg@5": lambda a, b, c: ndcg_at_k(a, b, c, 5),
        "ndcg@10": lambda a, b, c: ndcg_at_k(a, b, c, 10),
        "recall@3": lambda a, b, c: recall_at_k(a, b, c, 3),
        "map": mean_average_precision,
    }
    for name, metric in metrics.items():
        assert metric(q[shuffled], y[shuffled], s[shuffled]) == pytest.approx(metric(q, y, s), abs=1e-12), name


def test_true_labels_as_scores_score_one_despite_ties():
    q, y, _ = _tied_queries(seed=7)
    assert ndcg_at_k(q, y, y, 10) == pytest.approx(1.0)
    assert mean_average_precision(q, y, y) == pytest.approx(1.0)
    assert recall_at_k(q, y, y, 3) == pytest.approx(1.0)  # at most 3 positives per query


def test_calibration_metrics_bounds():
    y = np.array([0, 0, 1, 1])
    assert brier_score(y, y.astype(float)) == 0.0
    assert brier_score(y, 1 - y.astype(float)) == 1.0
    assert expected_calibration_error(y, np.full(4, 0.5), n_bins=1) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0]), n_bins=4) == pytest.approx(1.0)


def test_smoothed_isotonic_is_monotone_and_never_certain():
    from introrank.model.calibration import fit_smoothed_isotonic

    rng = np.random.default_rng(0)
    raw = rng.normal(size=2000)
    labels = (rng.random(2000) < 1 / (1 + np.exp(-(raw * 2 - 3)))).astype(float)
    raw = np.append(raw, [10.0, 11.0])  # a tiny all-positive top step
    labels = np.append(labels, [1.0, 1.0])
    calibrator = fit_smoothed_isotonic(raw, labels)
    grid = np.linspace(-4, 12, 200)
    p = calibrator.predict(grid)
    assert (np.diff(p) >= -1e-12).all() and p.max() < 0.9 and p.min() >= 0
    fresh = rng.normal(size=20000)  # calibration is for scores it has not seen
    fresh_labels = (rng.random(20000) < 1 / (1 + np.exp(-(fresh * 2 - 3)))).astype(float)
    # The shrunk top steps dominate this error: 0.026-0.034 for flat steps, 0.032-0.041 centred (seeds 0-3).
    assert expected_calibration_error(fresh_labels, calibrator.predict(fresh)) < 0.04
    # No flat steps: between the lowest step's centre and the first centre at the top rate,
    # a higher score always means higher odds.
    top = calibrator.thresholds[int(np.argmax(calibrator.values))]
    inside = (grid > calibrator.thresholds[0]) & (grid < top)
    assert inside.sum() > 20 and (np.diff(p[inside]) > 0).all()
