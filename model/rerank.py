"""Turning scores into the list a person sees: business rules over the model's order.

At most ``max_per_company`` per company in the top k (an empty company is unknown,
never one shared company), no contact in the cool-down after an ask, nobody
flagged ``do_not_recommend``, and impression discounting: a contact shown again
and again without anything happening sinks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.constants import DEFAULT_ASK_COOLDOWN_DAYS, DEFAULT_MAX_PER_COMPANY


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


def rerank_reading_impressions(
    scores: np.ndarray,
    companies: np.ndarray,
    do_not_recommend: np.ndarray,
    days_since_last_ask: np.ndarray,
    k: int,
    policy: RerankPolicy,
    read_impressions: Callable[[np.ndarray], np.ndarray],
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """``rerank`` with every impression counter, reading the counters of the head of the list only.

    Impressions only lower a score (a factor ``decay ** n`` <= 1). Once the k-th
    chosen adjusted score is above the plain score of every unread candidate, no
    unread candidate can come before it in ``rerank``'s order, so the list equals
    the one with all counters read. Otherwise the head grows fourfold and the
    check repeats, up to the whole list.
    """
    n = len(scores)
    scores = np.asarray(scores, dtype=float)
    second = np.zeros(n) if tiebreak is None else -np.asarray(tiebreak, dtype=float)
    order = np.lexsort((second, -scores))
    m = min(n, max(8 * k, 64))
    while True:
        head = order[:m]
        shown = np.asarray(read_impressions(head), dtype=float)
        picked = rerank(scores[head], companies[head], do_not_recommend[head], days_since_last_ask[head], k, policy,
                        shown, None if tiebreak is None else np.asarray(tiebreak)[head])
        if m == n:
            return head[picked]
        if len(picked) == k:
            kth = scores[head[picked[-1]]] * impression_factor(shown[picked[-1]], policy.impression_decay)
            if kth > scores[order[m]]:
                return head[picked]
        m = min(n, 4 * m)
