"""From candidate features to the list a person sees: score, re-rank, explain, first action.

One implementation for every path (the stored and ``as_of`` lists, ``/v1/score``,
the webhook push, the evaluation notebook, the benchmarks and the tests), so no
two of them can order, explain or advise differently. Scoring is split from the
rest because the service caches an owner's scores while re-ranking (impressions,
the tenant's policy) must run on every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from introrank.model.actions import Action, suggest_action
from introrank.model.explain import feature_rows, reasons_of_rows
from introrank.model.rerank import RerankPolicy, rerank


@dataclass(frozen=True)
class Ranked:
    index: int  # row of the candidate in the scored features
    probability: float
    reasons: list[str]
    action: Action


@dataclass
class Scored:
    """Candidates scored by one ranker: everything a list needs except the re-ranking.

    ``explained`` memoises each row's reasons and action (TreeSHAP is the costly
    part), so a cached entry explains a contact once however often it is shown.
    """

    features: pd.DataFrame
    raw: np.ndarray  # the model's raw scores (orders ties the calibration flattens)
    probability: np.ndarray
    companies: np.ndarray
    do_not_recommend: np.ndarray
    days_since_last_ask: np.ndarray = field(init=False)
    explained: dict[int, tuple[list[str], Action]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.days_since_last_ask = self.features["days_since_last_ask"].to_numpy(float)


def score(ranker: Any, features: pd.DataFrame, companies: np.ndarray | pd.Series,
          do_not_recommend: np.ndarray | pd.Series) -> Scored:
    """``ranker``: an ``IntroRanker`` or the ``HeuristicRanker`` (raw_score, calibrate, contributions)."""
    raw = ranker.raw_score(features) if not features.empty else np.empty(0)
    flags = pd.Series(np.asarray(do_not_recommend, dtype=object)).fillna(False).to_numpy(bool)
    return Scored(features, raw, ranker.calibrate(raw), np.asarray(companies, dtype=object), flags)


def rank(scored: Scored, ranker: Any, k: int, policy: RerankPolicy = RerankPolicy(),
         impressions: np.ndarray | None = None) -> list[Ranked]:
    """Re-rank, explain the top k and pick each one's first action.

    Contributions (the expensive part) are computed for the chosen rows only.
    """
    if scored.features.empty:
        return []
    chosen = rerank(scored.probability, scored.companies, scored.do_not_recommend, scored.days_since_last_ask, k,
                    policy, impressions, tiebreak=scored.raw).tolist()
    missing = [i for i in chosen if i not in scored.explained]
    if missing:
        top = scored.features.iloc[missing]
        rows = feature_rows(top)
        reasons = reasons_of_rows(list(top.columns), rows, ranker.contributions(top))
        for i, why, row in zip(missing, reasons, rows, strict=True):
            scored.explained[i] = (why, suggest_action(row))
    return [Ranked(i, float(scored.probability[i]), list(scored.explained[i][0]), scored.explained[i][1])
            for i in chosen]


def score_and_rank(ranker: Any, features: pd.DataFrame, companies: np.ndarray | pd.Series,
                   do_not_recommend: np.ndarray | pd.Series, k: int, policy: RerankPolicy = RerankPolicy(),
                   impressions: np.ndarray | None = None) -> list[Ranked]:
    """``score`` then ``rank``, for callers that keep no scores (stateless scoring, evaluation)."""
    return rank(score(ranker, features, companies, do_not_recommend), ranker, k, policy, impressions)
