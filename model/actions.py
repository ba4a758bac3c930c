"""What to do first with a recommended contact: ask, give first, or warm up.

The article's rules: give before you ask when you have taken more than given
(the value swap), and warm a cold tie with a low-effort personal note before
asking anything of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

ASK_ACTION, GIVE_FIRST, WARM_UP = "ask", "give_first", "warm_up"
COLD_AFTER_DAYS = 90.0
COLD_WARMTH = 0.5


@dataclass(frozen=True)
class Action:
    type: str
    reason: str


def is_cold(row: Mapping[str, float]) -> bool:
    days = row["days_since_last_event"]
    return bool(np.isnan(days) or days > COLD_AFTER_DAYS or row["warmth_30d"] < COLD_WARMTH)


def suggest_action(row: Mapping[str, float]) -> Action:
    balance = row["give_ask_balance"]
    if balance < 0:
        n = int(-balance)
        return Action(GIVE_FIRST, f"You have asked {n} more {'time' if n == 1 else 'times'} than you "
                      "gave: share an article, advice or an introduction before asking.")
    if is_cold(row):
        days = row["days_since_last_event"]
        when = "a long time" if np.isnan(days) else f"{int(days)} days"
        return Action(WARM_UP, f"The tie has gone cold ({when} since you last spoke): send a short "
                      "personal note about something they shared before asking.")
    return Action(ASK_ACTION, "The tie is warm and you have given as much as you asked: "
                  "ask for the introduction.")
