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
from introrank.model.events import SECONDS_PER_DAY, EventArrays
from introrank.model.profile_features import (  # noqa: F401 - one place to import every feature from
    GOAL_RELEVANCE_WEIGHTS,
    STATIC_FEATURES,
    stage_or_title,
    static_features,
)

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
FEATURE_NAMES: tuple[str, ...] = DYNAMIC_FEATURES + RELATIVE_FEATURES + STATIC_FEATURES
_COLUMNS = pd.Index(list(FEATURE_NAMES))  # built once: inferring a string index costs ~1 ms per matrix

# Prior of the per-ask success rate: one success in five asks.
SUCCESS_PRIOR, SUCCESS_PRIOR_WEIGHT = 0.2, 5.0


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
    return pd.DataFrame(np.hstack([dynamic_values, static_values]), columns=_COLUMNS, index=index)


def features_at_cut(events: EventArrays, n_pairs: int, cut: float) -> dict[str, np.ndarray]:
    """Dynamic features of pairs 0..n_pairs-1 from the events strictly before ``cut``."""
    before = events.take(events.ts < cut)
    scalars = pair_scalars(before, n_pairs)
    windows = window_stats(before, cut, n_pairs)
    return dynamic_features(scalars, windows, cut)
