"""Heuristic rankers: the baselines the model must beat and the no-model fallback.

Each is a pure function of the feature matrix, so a baseline scores exactly the
candidates the model scores, from the same features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.constants import HEURISTIC_VERSION


def most_recent(features: pd.DataFrame) -> np.ndarray:
    return -features["days_since_last_event"].to_numpy(dtype=float)


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
