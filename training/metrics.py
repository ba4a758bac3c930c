"""Ranking and calibration metrics as small pure functions over flat arrays.

A *query* is one (owner, cut): the list the owner would have been shown. Queries
without any positive carry no ranking signal and are left out of the ranking
metrics (they still count for Brier and calibration).

Ties: rows of one query with equal scores (a NaN score counts as -inf, so unscored
rows tie at the bottom) form a tie group, and each ranking metric is its expected
value when the group's order is uniformly random. A ranker's number never depends
on the row order it was given, and a baseline with integer scores
(``most_frequent_90d``) is neither helped nor hurt by it. For NDCG this is the
tie-averaged DCG of McSherry and Najork (2008), the rule ``sklearn.metrics.ndcg_score``
applies: each position of a group carries the group's mean gain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_KS = (1, 3, 5, 10, 20)


def _ranked(query: np.ndarray, label: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """One row per position of each query with a positive, best score first, and its tie group.

    Columns: ``q`` (query), ``rank`` (1-based position), ``j`` (position inside the tie
    group), ``c``/``t`` (the group's size and positives), ``before`` (positives ranked
    above the group), ``n_pos`` (the query's positives) and ``gain`` (``t / c``: the
    expected label at this position). Which row of a group lands on which position
    is irrelevant: nothing below reads a row's own label.
    """
    codes, queries = pd.factorize(pd.Series(query), sort=True)
    s = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf)
    order = np.lexsort((-s, codes))
    q, y, s = codes[order], np.asarray(label, dtype=float)[order], s[order]
    n = len(q)
    if n == 0:
        return pd.DataFrame(columns=["q", "rank", "j", "c", "t", "before", "n_pos", "gain"])
    row = np.arange(n)
    new_query = np.r_[True, q[1:] != q[:-1]]
    new_group = new_query | np.r_[True, s[1:] != s[:-1]]
    query_starts, group_starts = np.flatnonzero(new_query), np.flatnonzero(new_group)
    query_of, group_of = np.cumsum(new_query) - 1, np.cumsum(new_group) - 1
    first_row = query_starts[query_of]  # the query's first row, for every row
    positives_above = np.cumsum(y) - y  # over the whole sorted array, rows before this one
    c = np.diff(np.append(group_starts, n))[group_of]
    t = np.add.reduceat(y, group_starts)[group_of]
    frame = pd.DataFrame({
        "q": queries.take(q), "rank": row - first_row + 1, "j": row - group_starts[group_of] + 1,
        "c": c, "t": t, "before": (positives_above[group_starts] - positives_above[first_row[group_starts]])[group_of],
        "n_pos": np.add.reduceat(y, query_starts)[query_of], "gain": t / c,
    })
    return frame[frame["n_pos"] > 0]


def ndcg_by_query(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> pd.Series:
    """NDCG@k of each query with a positive (binary gains, tie-averaged), indexed by query, in query order."""
    frame = _ranked(query, label, score)
    if frame.empty:
        return pd.Series(dtype=float)
    top = frame[frame["rank"] <= k]
    dcg = (top["gain"] / np.log2(top["rank"] + 1)).groupby(top["q"]).sum()
    n_pos = frame.groupby("q")["n_pos"].first()
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    ideal = discounts[np.minimum(n_pos.to_numpy(), k).astype(int) - 1]
    return dcg.reindex(n_pos.index, fill_value=0.0) / ideal


def ndcg_at_k(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over queries with a positive (binary gains; ties averaged as sklearn's ``ndcg_score``)."""
    per_query = ndcg_by_query(query, label, score, k)
    return float(per_query.mean()) if len(per_query) else float("nan")


def recall_at_k(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> float:
    """Mean share of a query's positives found in its top k.

    A tie group cut by position k counts its positives pro rata: the expected
    number inside the top k when the group's order is random.
    """
    frame = _ranked(query, label, score)
    if frame.empty:
        return float("nan")
    hits = frame[frame["rank"] <= k].groupby("q")["gain"].sum()
    n_pos = frame.groupby("q")["n_pos"].first()
    return float((hits.reindex(n_pos.index, fill_value=0.0) / n_pos).mean())


def mean_average_precision(query: np.ndarray, label: np.ndarray, score: np.ndarray) -> float:
    """Mean over queries of the expected average precision under a random order of each tie group.

    A positive at position ``j`` of a group of ``c`` rows holding ``t`` positives, ranked
    after ``before`` positives and ``rank - j`` rows, sees on average
    ``before + 1 + (j - 1)(t - 1)/(c - 1)`` positives up to its rank; each position holds
    a positive with probability ``t / c`` (McSherry and Najork 2008).
    """
    frame = _ranked(query, label, score)
    if frame.empty:
        return float("nan")
    inside = (frame["j"] - 1) * (frame["t"] - 1) / np.maximum(frame["c"] - 1, 1)
    precision = frame["gain"] * (frame["before"] + 1 + inside) / frame["rank"]
    ap = precision.groupby(frame["q"]).sum() / frame.groupby("q")["n_pos"].first()
    return float(ap.mean())


def brier_score(label: np.ndarray, probability: np.ndarray) -> float:
    return float(np.mean((np.asarray(probability, float) - np.asarray(label, float)) ** 2))


def expected_calibration_error(label: np.ndarray, probability: np.ndarray, n_bins: int = 15) -> float:
    """Mass-weighted |mean predicted - observed rate| over equal-count bins.

    Equal-count bins keep the estimate stable when most probabilities are small,
    as they are for rare referrals.
    """
    p = np.asarray(probability, float)
    y = np.asarray(label, float)
    if p.size == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    bins = np.array_split(order, min(n_bins, p.size))
    return float(sum(len(b) * abs(p[b].mean() - y[b].mean()) for b in bins if len(b)) / p.size)


def reliability_curve(label: np.ndarray, probability: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Mean predicted vs observed per equal-count bin, for the reliability diagram."""
    p = np.asarray(probability, float)
    y = np.asarray(label, float)
    order = np.argsort(p, kind="mergesort")
    rows = [(p[b].mean(), y[b].mean(), len(b)) for b in np.array_split(order, min(n_bins, p.size)) if len(b)]
    return pd.DataFrame(rows, columns=["predicted", "observed", "count"])


def ranking_report(query: np.ndarray, label: np.ndarray, score: np.ndarray,
                   probability: np.ndarray | None = None) -> dict[str, float]:
    """The metric set reported for every ranker (calibration only when it gives probabilities)."""
    report = {
        "ndcg_at_5": ndcg_at_k(query, label, score, 5),
        "ndcg_at_10": ndcg_at_k(query, label, score, 10),
        "recall_at_10": recall_at_k(query, label, score, 10),
        "map": mean_average_precision(query, label, score),
    }
    if probability is not None:
        report["brier"] = brier_score(label, probability)
        report["ece"] = expected_calibration_error(label, probability)
    return report
