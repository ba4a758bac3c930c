"""Passive maintenance: which valuable ties are cooling, and what is at stake.

At stake = the model's probability now minus its probability for the same tie
after ``horizon_days`` more days without contact (the features aged, no new
events). Personal CRMs remind on a fixed "every N days"; this list comes from the
same model that ranks recommendations, so it knows which silence costs the most.
Only the tie itself ages: its list-relative features are taken against the
owner's other ties as they are now (``introrank.model.features.relative_to``),
since aging the whole list would leave every relative feature unchanged.
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
    stake = np.asarray(p_now) - np.asarray(p_aged)
    quiet = now_features["days_since_last_event"].to_numpy() >= MIN_QUIET_DAYS
    eligible = np.flatnonzero(quiet & ~excluded & (stake > 0))
    order = eligible[np.argsort(-stake[eligible], kind="stable")][:k]
    return [KeepWarm(int(i), float(p_now[i]), float(p_aged[i]), goes_cold_at(now_features.iloc[i], at),
                     suggest_touch(now_features.iloc[i])) for i in order]
