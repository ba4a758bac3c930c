"""Plain-sentence reasons for a recommendation, from LightGBM contributions.

The reasons are the features that pushed this contact's score up the most
(``pred_contrib``), each rendered with its real value. Features that say the same
thing (the stage gap and the 2-3-ahead flag) share one sentence. A stage read from
a job title rather than given is said as a guess: "They appear to be ... (from
their title)".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from introrank.model.constants import CAREER_STAGES, GOALS
from introrank.model.profile_features import GOAL_RELEVANCE_WEIGHTS

MAX_REASONS = 3


def _n(v: float) -> str:
    return f"{int(round(v))}"


def _plural(v: float, one: str, many: str) -> str:
    return one if int(round(v)) == 1 else many


def _source(r: Mapping[str, float]) -> str:
    """Where an inferred stage came from, as the end of a sentence ('' when both were given)."""
    theirs, yours = (float(r.get(f, 0.0) or 0.0) == 1.0 for f in ("contact_stage_inferred", "owner_stage_inferred"))
    if theirs and yours:
        return " (from your job titles)"
    return " (from their title)" if theirs else " (from your title)" if yours else ""


def _stage_gap(v: float, r: Mapping[str, float]) -> str | None:
    gap, source = int(round(v)), _source(r)
    verb = "appear to be" if source else "are"
    if gap > 0:
        return f"They {verb} {gap} career {_plural(gap, 'stage', 'stages')} ahead of you{source}"
    if gap < 0:
        return (f"They {verb} {-gap} career {_plural(-gap, 'stage', 'stages')} behind you{source}: "
                "a chance to give back")
    return f"They {verb} at your career stage{source}: a peer who knows your challenges"


def _contact_stage(v: float, r: Mapping[str, float]) -> str:
    inferred = float(r.get("contact_stage_inferred", 0.0) or 0.0) == 1.0
    stage = CAREER_STAGES.get(int(v), "unknown")
    if inferred:
        return f"They appear to be at the {stage} stage (from their title)"
    return f"They are at the {stage} stage"


GOAL_FIT_VIA_STAGE = "A strong fit for your current goal: "  # the stage sentence follows: one reason, said once


def _goal_fit(v: float, r: Mapping[str, float]) -> str | None:
    """Say what makes the fit: for a goal that weighs seniority, being 2-3 stages ahead is most of it,
    and a bare "strong fit" would hide both that and whether the stage was only read from a title."""
    if v <= 0:
        return None
    weighs_stage = any(float(r.get(f"goal_{g}", 0.0) or 0.0) == 1.0 and GOAL_RELEVANCE_WEIGHTS[g][2] > 0
                       for g in GOALS)
    if weighs_stage and float(r.get("stage_2_3_ahead", 0.0) or 0.0) == 1.0:
        return f"{GOAL_FIT_VIA_STAGE}{_stage_gap(r['stage_gap'], r)}"
    return "A strong fit for your current goal"


def _balance(v: float) -> str:
    if v > 0:
        return f"You have given {_n(v)} more {_plural(v, 'time', 'times')} than you asked"
    if v < 0:
        return f"You have asked {_n(-v)} more {_plural(-v, 'time', 'times')} than you gave"
    return "Your gives and asks are in balance"


TEMPLATES: dict[str, Callable[[float, Mapping[str, float]], str | None]] = {
    "days_since_last_event": lambda v, r: f"You last spoke {_n(v)} {_plural(v, 'day', 'days')} ago",
    "days_since_last_in": lambda v, r: f"They last reached out to you {_n(v)} {_plural(v, 'day', 'days')} ago",
    "days_since_last_meeting": lambda v, r: f"You last met {_n(v)} {_plural(v, 'day', 'days')} ago",
    "days_since_last_ask": lambda v, r: (
        "You have never asked them for a favour" if np.isnan(v)
        else f"Your last ask to them was {_n(v)} days ago"
    ),
    "events_30d": lambda v, r: f"{_n(v)} {_plural(v, 'interaction', 'interactions')} in the last 30 days",
    "events_90d": lambda v, r: f"{_n(v)} {_plural(v, 'interaction', 'interactions')} in the last 90 days",
    "events_365d": lambda v, r: f"{_n(v)} {_plural(v, 'interaction', 'interactions')} in the last year",
    "warmth_7d": lambda v, r: "You have been in touch this week",
    "warmth_30d": lambda v, r: f"The tie is warm: {_n(r['events_90d'])} interactions in 90 days",
    "warmth_180d": lambda v, r: f"A lasting tie: {_n(r['events_365d'])} interactions in the last year",
    "tie_age_days": lambda v, r: f"You have known each other for {max(1, int(v // 30))} months",
    "in_out_ratio": lambda v, r: (
        "They reach out to you as often as you reach out to them" if v >= 0.8
        else "You do most of the reaching out"
    ),
    "give_ask_balance": lambda v, r: _balance(v),
    "asks_90d": lambda v, r: (
        "You have not asked them for anything in 90 days" if v == 0
        else f"You have asked {_n(v)} {_plural(v, 'time', 'times')} in 90 days"
        + (" without giving" if r["give_ask_balance"] < 0 else "")
    ),
    "past_successes": lambda v, r: (
        f"They have introduced or referred you {_n(v)} {_plural(v, 'time', 'times')} before" if v > 0
        else "They have not introduced you to anyone yet"
    ),
    "success_per_ask": lambda v, r: f"About {v:.0%} of your asks to them led to an introduction",
    "responsiveness": lambda v, r: f"They answer about {v:.0%} of your messages within a week",
    "inbound_7d": lambda v, r: f"They wrote to you {_n(v)} {_plural(v, 'time', 'times')} this week" if v > 0
    else None,
    "inbound_30d": lambda v, r: f"They wrote to you {_n(v)} {_plural(v, 'time', 'times')} in the last 30 days"
    if v > 0 else None,
    "owner_spoke_last": lambda v, r: "They owe you a reply" if v == 1 else "You owe them a reply",
    "recency_rank": lambda v, r: "One of the contacts you spoke to most recently" if v <= 0.2 else None,
    "inbound_recency_rank": lambda v, r: "One of the contacts who reached out most recently" if v <= 0.2 else None,
    "days_behind_freshest": lambda v, r: None,
    "owner_stage": lambda v, r: None,
    "contact_stage": _contact_stage,
    "stage_gap": _stage_gap,
    "stage_2_3_ahead": lambda v, r: _stage_gap(r["stage_gap"], r) if v == 1 else None,
    "owner_stage_inferred": lambda v, r: None,  # said with the gap, as "(from your title)"
    "contact_stage_inferred": lambda v, r: None,  # said with the gap, as "(from their title)"
    "mutual_connections": lambda v, r: f"You share {_n(v)} mutual {_plural(v, 'connection', 'connections')}",
    "industry_match": lambda v, r: "They work in an industry you are targeting" if v == 1 else None,
    "company_match": lambda v, r: "They work at a company you are targeting" if v == 1 else None,
    "goal_relevance": lambda v, r: _goal_fit(v, r),
}
SAME_REASON = {"stage_2_3_ahead": "stage_gap", "warmth_180d": "events_365d", "warmth_30d": "events_90d"}


def reason_sentence(feature: str, row: Mapping[str, float]) -> str | None:
    """The sentence for one feature of one contact, or None when it says nothing useful."""
    template = TEMPLATES.get(feature)
    if template is None:
        return None
    value = float(row[feature])
    if np.isnan(value) and feature != "days_since_last_ask":
        return None
    return template(value, row)


def top_reasons(features: pd.DataFrame, contributions: np.ndarray | None,
                limit: int = MAX_REASONS) -> list[list[str]]:
    """Reasons per row, most positive contribution first.

    Without contributions (the heuristic fallback) the recency and warmth facts
    are the reasons, as those are what the heuristic ranks by.
    """
    return reasons_of_rows(list(features.columns), feature_rows(features), contributions, limit)


def feature_rows(features: pd.DataFrame) -> list[dict[str, float]]:
    """Each row as a plain dict (column -> float): what the templates and the actions read.

    A dict lookup costs a fraction of a ``pd.Series`` one; the shown rows are read a few dozen times each.
    """
    names = list(features.columns)
    return [dict(zip(names, values, strict=True)) for values in features.to_numpy(np.float64).tolist()]


def reasons_of_rows(names: list[str], rows: list[dict[str, float]], contributions: np.ndarray | None,
                    limit: int = MAX_REASONS) -> list[list[str]]:
    """``top_reasons`` of rows already turned into dicts (``feature_rows``)."""
    out = []
    for i, row in enumerate(rows):
        if contributions is None:
            order = [names.index("warmth_30d"), names.index("days_since_last_event")]
        else:
            contrib = contributions[i, : len(names)]
            order = [j for j in np.argsort(-contrib, kind="stable").tolist() if contrib[j] > 0]
        out.append(_sentences(row, [names[j] for j in order], limit))
    return out


def _sentences(row: Mapping[str, float], ordered: list[str], limit: int) -> list[str]:
    seen: set[str] = set()
    sentences: list[str] = []
    for feature in ordered:
        if feature.startswith("goal_") and feature[5:] in GOALS:
            continue
        sentence = reason_sentence(feature, row)
        key = "stage_gap" if sentence and sentence.startswith(GOAL_FIT_VIA_STAGE) else SAME_REASON.get(feature, feature)
        if sentence and key not in seen and sentence not in sentences:
            seen.add(key)
            sentences.append(sentence)
        if len(sentences) == limit:
            break
    return sentences
