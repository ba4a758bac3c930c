"""Ranking and calibration metrics as small pure functions over flat arrays.

A *query* is one (owner, cut): the list the owner would have been shown. Queries
without any positive carry no ranking signal and are left out of the ranking
metrics (they still count for Brier and calibration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_KS = (1, 3, 5, 10, 20)


def _ranked(query: np.ndarray, label: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Rows sorted by query then descending score; ties broken by input order."""
    frame = pd.DataFrame({"q": query, "y": label.astype(float), "s": score.astype(float)})
    frame["s"] = frame["s"].fillna(-np.inf)
    frame = frame.sort_values(["q", "s"], ascending=[True, False], kind="mergesort")
    frame["rank"] = frame.groupby("q", sort=False).cumcount() + 1
    frame["n_pos"] = frame.groupby("q", sort=False)["y"].transform("sum")
    return frame[frame["n_pos"] > 0]


def ndcg_by_query(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> pd.Series:
    """NDCG@k of each query with a positive (binary gains), indexed by query, in query order."""
    frame = _ranked(query, label, score)
    if frame.empty:
        return pd.Series(dtype=float)
    top = frame[frame["rank"] <= k]
    dcg = (top["y"] / np.log2(top["rank"] + 1)).groupby(top["q"]).sum()
    n_pos = frame.groupby("q")["n_pos"].first()
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    ideal = discounts[np.minimum(n_pos.to_numpy(), k).astype(int) - 1]
    return dcg.reindex(n_pos.index, fill_value=0.0) / ideal


def ndcg_at_k(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over queries with a positive (binary gains)."""
    per_query = ndcg_by_query(query, label, score, k)
    return float(per_query.mean()) if len(per_query) else float("nan")


def recall_at_k(query: np.ndarray, label: np.ndarray, score: np.ndarray, k: int = 10) -> float:
    """Mean share of a query's positives found in its top k."""
    frame = _ranked(query, label, score)
    if frame.empty:
        return float("nan")
    hits = frame[frame["rank"] <= k].groupby("q")["y"].sum()
    n_pos = frame.groupby("q")["n_pos"].first()
    return float((hits.reindex(n_pos.index, fill_value=0.0) / n_pos).mean())


def mean_average_precision(query: np.ndarray, label: np.ndarray, score: np.ndarray) -> float:
    frame = _ranked(query, label, score)
    if frame.empty:
        return float("nan")
    frame = frame.assign(hits=frame.groupby("q")["y"].cumsum())
    precision_at_hits = (frame["hits"] / frame["rank"]).where(frame["y"] > 0, 0.0)
    ap = precision_at_hits.groupby(frame["q"]).sum() / frame.groupby("q")["n_pos"].first()
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
