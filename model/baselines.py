"""Heuristic rankers: the baselines the model must beat and the no-model fallback.

Each is a pure function of the feature matrix, so a baseline scores exactly the
candidates the model scores, from the same features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from introrank.model.constants import HEURISTIC_VERSION


def most_recent(features: pd.DataFrame) -> np.ndarray:
    return -features["days_since_last_event"].to_numpy(dtype=float)


# A contact never heard from sits at ten years: below every real tie, still finite.
_NEVER_DAYS = 3650.0


def recency_prior(days_since_last_event: np.ndarray) -> np.ndarray:
    """The "most recent" ranking as a smooth score: minus log(1 + days since the last event).

    The ranker can start boosting from this (``IntroRanker.prior_strength``), so
    a model that finds nothing better than recency still ranks like recency,
    and trees only learn what to change about it. The log makes a day's
    difference matter more for last week's ties than for last year's.
    """
    days = np.nan_to_num(np.asarray(days_since_last_event, dtype=float), nan=_NEVER_DAYS)
    return -np.log1p(np.clip(days, 0.0, None))


def most_frequent_90d(features: pd.DataFrame) -> np.ndarray:
    return features["events_90d"].to_numpy(dtype=float)


def warmest(features: pd.DataFrame) -> np.ndarray:
    """Exponentially decayed, type-weighted event count (30-day half-life)."""
    return features["warmth_30d"].to_numpy(dtype=float)


BASELINES = {
    "most_recent": most_recent,
    "most_frequent_90d": most_frequent_90d,
    "warmest": warmest,
}


class HeuristicRanker:
    """Stands in for the model when no champion can be loaded.

    Its "probability" is a monotone squash of warmth, not a calibrated estimate;
    responses say ``model_version: "heuristic"`` so callers know.
    """

    objective = HEURISTIC_VERSION
    version = HEURISTIC_VERSION
    info: dict[str, object] = {}

    def raw_score(self, features: pd.DataFrame) -> np.ndarray:
        return warmest(features)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 - np.exp(-np.asarray(raw, dtype=float) / 10.0)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self.calibrate(self.raw_score(features))

    def contributions(self, features: pd.DataFrame) -> None:
        return None
