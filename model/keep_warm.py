"""Passive maintenance: which valuable ties are cooling, and what is at stake.

At stake = the model's probability now minus its probability for the same tie
after ``horizon_days`` more days without contact (the features aged, no new
events). Personal CRMs remind on a fixed "every N days"; this list comes from the
same model that ranks recommendations, so it knows which silence costs the most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from introrank.model.actions import COLD_AFTER_DAYS, COLD_WARMTH
from introrank.model.events import SECONDS_PER_DAY

AGE_DAYS = 60.0
MIN_QUIET_DAYS = 7.0  # a tie touched this week needs no reminder


@dataclass(frozen=True)
class KeepWarm:
    index: int
    probability_now: float
    probability_if_cold: float
    goes_cold_at: float
    touch: str

    @property
    def at_stake(self) -> float:
        return self.probability_now - self.probability_if_cold


def _rank_among(current: np.ndarray, aged: np.ndarray) -> np.ndarray:
    """Percentile rank each tie would have if it alone aged to ``aged`` and the rest stayed put.

    Matches pandas' ``rank(method="average", pct=True)`` over the list with the
    tie's own current value replaced; NaN (never happened) stays NaN.
    """
    known = ~np.isnan(current)
    values = np.sort(current[known])
    below = np.searchsorted(values, aged, side="left") - 1  # minus the tie's own (smaller) current value
    equal = np.searchsorted(values, aged, side="right") - np.searchsorted(values, aged, side="left")
    rank = (1 + below + 0.5 * (equal - 1) + 0.5) / max(len(values), 1)
    return np.where(known & ~np.isnan(aged), rank, np.nan)


def age_alone(now: pd.DataFrame, aged: pd.DataFrame) -> pd.DataFrame:
    """The aged features of each tie with its list-relative features taken against the others *now*.

    Keep-warm asks what silence costs one tie while the owner's other ties go on
    as they are; aging the whole list would leave every relative feature unchanged.
    """
    out = aged.copy()
    for feature, base in (("recency_rank", "days_since_last_event"), ("inbound_recency_rank", "days_since_last_in")):
        out[feature] = _rank_among(now[base].to_numpy(float), aged[base].to_numpy(float))
    days_now = now["days_since_last_event"].to_numpy(float)
    days_aged = aged["days_since_last_event"].to_numpy(float)
    order = np.argsort(days_now)
    first, second = days_now[order[0]], days_now[order[1]] if len(order) > 1 else np.inf
    others_min = np.where(np.arange(len(days_now)) == order[0], second, first)
    out["days_behind_freshest"] = days_aged - np.minimum(others_min, days_aged)
    return out


def goes_cold_at(features: pd.Series, at: float) -> float:
    """When the action policy would first call this tie cold, if nothing happens."""
    days = features["days_since_last_event"]
    by_silence = at + (COLD_AFTER_DAYS - days) * SECONDS_PER_DAY
    warmth = features["warmth_30d"]
    by_warmth = at + 30.0 * np.log2(warmth / COLD_WARMTH) * SECONDS_PER_DAY if warmth > COLD_WARMTH else at
    return float(max(at, min(by_silence, by_warmth)))


def suggest_touch(features: pd.Series) -> str:
    if features["past_successes"] > 0:
        return "Send a short thank-you with an update on where their last introduction led."
    if features["give_ask_balance"] < 0:
        return "Share an article or a useful contact with them, with no ask attached."
    if features["days_since_last_in"] <= 30:
        return "Reply to their last message with a two-line note, or comment on their latest post."
    return "Like or comment thoughtfully on their latest update, or send a two-line personal note."


def keep_warm_list(now_features: pd.DataFrame, aged_features: pd.DataFrame, p_now: np.ndarray,
                   p_aged: np.ndarray, at: float, k: int, excluded: np.ndarray) -> list[KeepWarm]:
    """Ties ranked by probability at stake, quiet for at least a week, not excluded."""
    stake = np.asarray(p_now) - np.asarray(p_aged)  # p_aged from age_alone(now, aged) features
    quiet = now_features["days_since_last_event"].to_numpy() >= MIN_QUIET_DAYS
    eligible = np.flatnonzero(quiet & ~excluded & (stake > 0))
    order = eligible[np.argsort(-stake[eligible], kind="stable")][:k]
    return [KeepWarm(int(i), float(p_now[i]), float(p_aged[i]), goes_cold_at(now_features.iloc[i], at),
                     suggest_touch(now_features.iloc[i])) for i in order]
