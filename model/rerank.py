"""Turning scores into the list a person sees: business rules over the model's order.

At most ``max_per_company`` per company in the top k (an empty company is unknown,
never one shared company), no contact in the cool-down after an ask, nobody
flagged ``do_not_recommend``, and impression discounting: a contact shown again
and again without anything happening sinks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from introrank.model.constants import DEFAULT_ASK_COOLDOWN_DAYS, DEFAULT_MAX_PER_COMPANY


@dataclass(frozen=True)
class RerankPolicy:
    max_per_company: int = DEFAULT_MAX_PER_COMPANY
    ask_cooldown_days: float = DEFAULT_ASK_COOLDOWN_DAYS
    impression_decay: float = 0.85  # score factor per unanswered impression


def impression_factor(unanswered_impressions: np.ndarray, decay: float) -> np.ndarray:
    return np.power(decay, np.asarray(unanswered_impressions, dtype=float))


def rerank(
    scores: np.ndarray,
    companies: np.ndarray,
    do_not_recommend: np.ndarray,
    days_since_last_ask: np.ndarray,
    k: int,
    policy: RerankPolicy = RerankPolicy(),
    unanswered_impressions: np.ndarray | None = None,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the chosen contacts, best first (at most k).

    ``tiebreak`` (the model's raw score) orders equal scores: calibrated
    probabilities are step functions, and ties must not fall to input order.
    """
    adjusted = np.asarray(scores, dtype=float).copy()
    if unanswered_impressions is not None:
        adjusted *= impression_factor(unanswered_impressions, policy.impression_decay)
    cooling = np.nan_to_num(days_since_last_ask, nan=np.inf) < policy.ask_cooldown_days
    eligible = ~np.asarray(do_not_recommend, dtype=bool) & ~cooling
    second = np.zeros_like(adjusted) if tiebreak is None else -np.asarray(tiebreak, dtype=float)
    order = np.lexsort((second, -adjusted))
    order = order[eligible[order]].tolist()
    chosen: list[int] = []
    per_company: dict[str, int] = {}
    for i in order:
        company = companies[i]
        key = company.strip().lower() if isinstance(company, str) and company.strip() else None
        if key is not None and per_company.get(key, 0) >= policy.max_per_company:
            continue
        if key is not None:
            per_company[key] = per_company.get(key, 0) + 1
        chosen.append(int(i))
        if len(chosen) == k:
            break
    return np.asarray(chosen, dtype=np.int64)
