"""The point-in-time feature definitions: one implementation for every path.

``dynamic_features`` turns a pair's state (``introrank.model.aggregates``) at time t into
history features, ``relative_features`` sets them against the owner's other
candidates, ``static_features`` reads the profiles, and ``assemble`` joins them
into the model's inputs. Training reaches them through ``features_at_cut`` on
the events strictly before each cut; the service on the aggregates it keeps
per pair; the stateless scorer on the events in the request.
``FEATURE_SCHEMA_VERSION`` travels with every trained model and must be bumped
whenever a definition here changes.

A stage left empty is read from the job title (``introrank.model.seniority``), for
the owner and the contact alike, and ``*_stage_inferred`` says so: real CRM exports
have titles, not stages, and the model weighs a guessed stage on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from introrank.model.aggregates import (
    Scalars,
    decayed_warmth,
    pair_scalars,
    window_stats,
)
from introrank.model.constants import (
    BUSINESS_GROWTH,
    CAREER_STAGE,
    CAREER_SUPPORT,
    COMPANY,
    CONTACT_ID,
    GOAL,
    GOALS,
    INDUSTRY,
    JOB_SEARCH,
    MUTUAL_CONNECTIONS,
    OWNER_ID,
    SKILL_BUILDING,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
)
from introrank.model.events import SECONDS_PER_DAY, EventArrays
from introrank.model.seniority import stages_from_titles

FEATURE_SCHEMA_VERSION = "3"  # 3: stages inferred from titles, and the two *_stage_inferred flags

DYNAMIC_FEATURES = (
    "days_since_last_event",
    "days_since_last_in",
    "days_since_last_meeting",
    "days_since_last_ask",
    "events_30d",
    "events_90d",
    "events_365d",
    "warmth_7d",
    "warmth_30d",
    "warmth_180d",
    "tie_age_days",
    "in_out_ratio",
    "give_ask_balance",
    "asks_90d",
    "past_successes",
    "success_per_ask",
    "responsiveness",
    "inbound_7d",
    "inbound_30d",
    "owner_spoke_last",
)
# Features relative to the owner's own candidate list at that time: recency means
# something different in a busy month than after a quiet summer.
RELATIVE_FEATURES = (
    "recency_rank",
    "inbound_recency_rank",
    "days_behind_freshest",
)
STATIC_FEATURES = (
    "owner_stage",
    "contact_stage",
    "stage_gap",
    "stage_2_3_ahead",
    "owner_stage_inferred",
    "contact_stage_inferred",
    "mutual_connections",
    "industry_match",
    "company_match",
    "goal_relevance",
) + tuple(f"goal_{g}" for g in GOALS)
FEATURE_NAMES: tuple[str, ...] = DYNAMIC_FEATURES + RELATIVE_FEATURES + STATIC_FEATURES

# Prior of the per-ask success rate: one success in five asks.
SUCCESS_PRIOR, SUCCESS_PRIOR_WEIGHT = 0.2, 5.0
# How much each goal cares about (industry match, company match, stage 2-3 ahead).
GOAL_RELEVANCE_WEIGHTS = {
    JOB_SEARCH: (0.4, 0.6, 0.0),
    SKILL_BUILDING: (0.3, 0.0, 0.7),
    BUSINESS_GROWTH: (0.6, 0.4, 0.0),
    CAREER_SUPPORT: (0.2, 0.0, 0.8),
}


def _days(later: np.ndarray | float, earlier: np.ndarray) -> np.ndarray:
    return (np.asarray(later, dtype=float) - earlier) / SECONDS_PER_DAY


def dynamic_features(scalars: Scalars, windows: dict[str, np.ndarray], at: float) -> dict[str, np.ndarray]:
    """History features of each pair at time ``at`` (NaN where a thing never happened)."""
    warmth = decayed_warmth(scalars, at)
    n_in, n_out = scalars["n_in"], scalars["n_out"]
    n_ask, n_success = scalars["n_ask"], scalars["n_success"]
    return {
        "days_since_last_event": _days(at, scalars["last_ts"]),
        "days_since_last_in": _days(at, scalars["last_in_ts"]),
        "days_since_last_meeting": _days(at, scalars["last_meeting_ts"]),
        "days_since_last_ask": _days(at, scalars["last_ask_ts"]),
        "events_30d": windows["n_30d"],
        "events_90d": windows["n_90d"],
        "events_365d": windows["n_365d"],
        "warmth_7d": warmth["warm_7"],
        "warmth_30d": warmth["warm_30"],
        "warmth_180d": warmth["warm_180"],
        "tie_age_days": _days(at, scalars["first_ts"]),
        "in_out_ratio": (n_in + 1.0) / (n_out + 1.0),
        "give_ask_balance": scalars["n_give"] - n_ask,
        "asks_90d": windows["asks_90d"],
        "past_successes": n_success,
        "success_per_ask": (n_success + SUCCESS_PRIOR * SUCCESS_PRIOR_WEIGHT)
        / (n_ask + SUCCESS_PRIOR_WEIGHT),
        "responsiveness": (windows["answered_365d"] + 1.0) / (windows["outs_365d"] + 2.0),
        "inbound_7d": windows["in_7d"],
        "inbound_30d": windows["in_30d"],
        "owner_spoke_last": np.where(np.isnan(scalars["last_ts"]), np.nan,
                                     (~(scalars["last_in_ts"] >= scalars["last_ts"])).astype(float)),
    }


def static_features(pairs: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame,
                    goal: str | None = None) -> pd.DataFrame:
    """Profile features of each (owner_id, contact_id) row of ``pairs``, in its order.

    Unknown attributes stay NaN. ``goal`` overrides every owner's stored goal
    (the endpoint's ``goal`` parameter).
    """
    frame = pairs[[OWNER_ID, CONTACT_ID]].astype(str).merge(
        _owner_columns(owners), on=OWNER_ID, how="left", sort=False
    ).merge(_contact_columns(contacts), on=[OWNER_ID, CONTACT_ID], how="left", sort=False)
    if goal is not None:
        frame["owner_goal"] = goal
    gap = frame["contact_stage"] - frame["owner_stage"]
    ahead = gap.isin([2, 3]).astype(float).where(gap.notna())
    industry = _industry_match(frame)
    company = _company_match(frame)
    out = pd.DataFrame(
        {
            "owner_stage": frame["owner_stage"],
            "contact_stage": frame["contact_stage"],
            "stage_gap": gap,
            "stage_2_3_ahead": ahead,
            "owner_stage_inferred": frame["owner_stage_inferred"].fillna(0.0),
            "contact_stage_inferred": frame["contact_stage_inferred"].fillna(0.0),
            "mutual_connections": frame["mutual_connections"],
            "industry_match": industry,
            "company_match": company,
        },
        index=pairs.index,
    )
    out["goal_relevance"] = _goal_relevance(frame["owner_goal"].to_numpy(), industry, company, ahead)
    for g in GOALS:
        out[f"goal_{g}"] = (frame["owner_goal"].to_numpy() == g).astype(float)
    return out


def stage_or_title(frame: pd.DataFrame, company: pd.Series | None, industry: pd.Series | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's career stage, read from its title where the stage is empty, and whether it was.

    The title is only parsed where it is needed. Without a title column (older
    exports, the CollegeMsg log) every stage stays as given.
    """
    stage = pd.to_numeric(frame[CAREER_STAGE], errors="coerce").to_numpy(dtype=float, copy=True)
    missing = np.isnan(stage)
    inferred = np.zeros(len(stage))
    if TITLE in frame and missing.any():
        def pick(column: pd.Series | None) -> list | None:
            return None if column is None else list(column.to_numpy(object)[missing])
        parsed = stages_from_titles(frame[TITLE].to_numpy(object)[missing], pick(company), pick(industry))
        stage[missing] = parsed
        inferred[missing] = ~np.isnan(parsed)
    return stage, inferred


def _owner_columns(owners: pd.DataFrame) -> pd.DataFrame:
    industry = owners[INDUSTRY] if INDUSTRY in owners else None
    stage, inferred = stage_or_title(owners, None, industry)
    return pd.DataFrame(
        {
            OWNER_ID: owners[OWNER_ID].astype(str),
            "owner_stage": stage,
            "owner_stage_inferred": inferred,
            "owner_industry": industry,
            "owner_goal": owners[GOAL],
            "targets_ind": _as_lists(owners, TARGET_INDUSTRIES),
            "targets_comp": _as_lists(owners, TARGET_COMPANIES),
        }
    )


def _contact_columns(contacts: pd.DataFrame) -> pd.DataFrame:
    mutual = contacts[MUTUAL_CONNECTIONS] if MUTUAL_CONNECTIONS in contacts else np.nan
    stage, inferred = stage_or_title(contacts, contacts[COMPANY], contacts[INDUSTRY])
    return pd.DataFrame(
        {
            OWNER_ID: contacts[OWNER_ID].astype(str),
            CONTACT_ID: contacts[CONTACT_ID].astype(str),
            "contact_stage": stage,
            "contact_stage_inferred": inferred,
            "contact_industry": contacts[INDUSTRY],
            "contact_company": contacts[COMPANY],
            "mutual_connections": pd.to_numeric(pd.Series(mutual, index=contacts.index),
                                                errors="coerce").astype(float),
        }
    )


def _as_lists(frame: pd.DataFrame, column: str) -> list[list[str]]:
    """List columns arrive as lists (store, API) or ';'-joined text (CSV)."""
    if column not in frame:
        return [[] for _ in range(len(frame))]
    return [_to_list(v) for v in frame[column]]


def _to_list(value: object) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v).strip().lower() for v in value if str(v).strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v.strip().lower() for v in str(value).split(";") if v.strip()]


def _normalized(values: pd.Series) -> pd.Series:
    """Lower-cased, trimmed text; unknown (None, NaN, empty) becomes NA."""
    text = pd.Series(values, dtype="string").str.strip().str.lower()
    return text.mask(text == "")


def _member(owner_ids: pd.Series, values: pd.Series, targets: list[list[str]]) -> np.ndarray:
    """Whether each row's value is in its owner's target list, via one vectorised lookup."""
    wanted = {f"{o}\x1f{t}" for o, ts in zip(owner_ids, targets, strict=True) for t in ts}
    if not wanted:
        return np.zeros(len(values), dtype=bool)
    keys = pd.Series(owner_ids, dtype="string").str.cat(values.fillna(""), sep="\x1f")
    return keys.isin(wanted).to_numpy(dtype=bool)


def _industry_match(frame: pd.DataFrame) -> np.ndarray:
    """1 when the contact works in an industry the owner targets (own industry if none)."""
    industry = _normalized(frame["contact_industry"])
    own = _normalized(frame["owner_industry"]).fillna("").to_numpy(object)
    targets = [t if t else ([o] if o else []) for t, o in zip(frame["targets_ind"], own, strict=True)]
    hit = _member(frame[OWNER_ID], industry, targets).astype(float)
    return np.where(industry.isna().to_numpy(), np.nan, hit)


def _company_match(frame: pd.DataFrame) -> np.ndarray:
    company = _normalized(frame["contact_company"])
    hit = _member(frame[OWNER_ID], company, list(frame["targets_comp"])).astype(float)
    return np.where(company.isna().to_numpy(), np.nan, hit)


def _goal_relevance(goals: np.ndarray, industry: np.ndarray, company: np.ndarray,
                    ahead: pd.Series) -> np.ndarray:
    w = np.array([GOAL_RELEVANCE_WEIGHTS.get(g, (0.0, 0.0, 0.0)) for g in goals]).reshape(-1, 3)
    parts = np.column_stack([np.nan_to_num(industry), np.nan_to_num(company),
                             np.nan_to_num(ahead.to_numpy(dtype=float))])
    return (w * parts).sum(axis=1)


# Each relative feature and the dynamic feature it ranks or measures.
RELATIVE_BASES = {
    "recency_rank": "days_since_last_event",
    "inbound_recency_rank": "days_since_last_in",
    "days_behind_freshest": "days_since_last_event",
}


def relative_features(dynamic: Mapping[str, ArrayLike] | pd.DataFrame, groups: np.ndarray,
                      reference: Mapping[str, ArrayLike] | pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Each candidate against the rest of its owner's list (``groups`` = owner of each row).

    The list is ``reference`` (row-aligned with ``dynamic``; ``dynamic`` itself
    when omitted) with each row's own entry replaced by its value in ``dynamic``.
    Training and serving set every row against the list as it is; keep-warm asks
    what silence costs one tie while the owner's other ties stay as they are now.
    """
    codes = pd.factorize(np.asarray(groups))[0].astype(np.int64)
    out = {}
    for name, base in RELATIVE_BASES.items():
        values = np.asarray(dynamic[base], dtype=float)
        ref = values if reference is None else np.asarray(reference[base], dtype=float)
        out[name] = (_behind_freshest(values, ref, codes) if name == "days_behind_freshest"
                     else _rank_pct(values, ref, codes))
    return out


def relative_to(features: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """One owner's feature rows with their relative features taken against ``reference`` (row-aligned)."""
    out = features.copy()
    for name, values in relative_features(features, np.zeros(len(features), np.int64), reference).items():
        out[name] = values
    return out


def _rank_pct(values: np.ndarray, reference: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """pandas' ``rank(method="average", pct=True)`` of each value in its group's list (NaN stays NaN)."""
    n = len(values)
    v_known, r_known = ~np.isnan(values), ~np.isnan(reference)
    same = values is reference  # the usual case: one list, so one sort
    both = values if same else np.concatenate([reference, values])
    known = ~np.isnan(both)
    dense = np.empty(len(both), np.int64)
    uniq, dense[known] = np.unique(both[known], return_inverse=True)
    dense[~known] = len(uniq)
    width = len(uniq) + 1  # one integer key per (group, value): group * width + the value's position
    keys = codes * width + dense[-n:] if n else codes
    order = np.argsort(keys, kind="stable")  # sorted needles: searchsorted walks ref_keys once
    ref_keys = keys[order][v_known[order]] if same else np.sort((codes * width + dense[:n])[r_known])

    def positions(needles: np.ndarray, side: Literal["left", "right"]) -> np.ndarray:
        at = np.empty(n, np.int64)
        at[order] = np.searchsorted(ref_keys, needles[order], side)
        return at

    left, right, group = positions(keys, "left"), positions(keys, "right"), positions(codes * width, "left")
    below = left - group - (r_known & (reference < values))  # the row's own entry is replaced, not compared
    equal = right - left - (r_known & (reference == values))
    count = np.bincount(codes[r_known], minlength=codes.max(initial=-1) + 1)[codes] - r_known + v_known
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = (1.0 + below + 0.5 * equal) / count
    return np.where(v_known, rank, np.nan)


def _behind_freshest(values: np.ndarray, reference: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Days behind the freshest tie of the list (the row itself included)."""
    n = len(values)
    if n == 0:
        return np.empty(0)
    ref = np.where(np.isnan(reference), np.inf, reference)  # NaN never is the freshest
    order = np.lexsort((ref, codes))
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    group_of_start = codes[order][starts]
    first = np.empty(group_of_start.max() + 1)
    second = np.full(len(first), np.inf)
    holder = np.empty(len(first), np.int64)
    first[group_of_start], holder[group_of_start] = ref[order[starts]], order[starts]
    has_second = (starts + 1 < n) & (codes[order][np.minimum(starts + 1, n - 1)] == group_of_start)
    second[group_of_start[has_second]] = ref[order[starts[has_second] + 1]]
    others = np.where(np.arange(n) == holder[codes], second[codes], first[codes])
    return values - np.minimum(others, values)


def assemble(dynamic: dict[str, np.ndarray], static: pd.DataFrame | np.ndarray,
             groups: np.ndarray | None = None) -> pd.DataFrame:
    """Feature matrix in FEATURE_NAMES order (one float block, so it is cheap to build and to score).

    ``static`` is a frame with STATIC_FEATURES columns (its index is kept) or the
    same columns as an array; ``groups`` names each row's owner (one owner when omitted).
    """
    if isinstance(static, pd.DataFrame):
        index, static_values = static.index, static[list(STATIC_FEATURES)].to_numpy(dtype=float)
    else:
        index, static_values = None, static
    n = static_values.shape[0]
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    columns = {**dynamic, **relative_features(dynamic, groups)} if n else {}
    names = DYNAMIC_FEATURES + RELATIVE_FEATURES
    dynamic_values = np.column_stack([np.asarray(columns[name], dtype=float) for name in names]) if n \
        else np.empty((0, len(names)))
    return pd.DataFrame(np.hstack([dynamic_values, static_values]), columns=list(FEATURE_NAMES), index=index)


def features_at_cut(events: EventArrays, n_pairs: int, cut: float) -> dict[str, np.ndarray]:
    """Dynamic features of pairs 0..n_pairs-1 from the events strictly before ``cut``."""
    before = events.take(events.ts < cut)
    scalars = pair_scalars(before, n_pairs)
    windows = window_stats(before, cut, n_pairs)
    return dynamic_features(scalars, windows, cut)
