"""The profile (static) features: stage gap, industry and company match, goal relevance.

One implementation for training, the service and ``/v1/score`` (re-exported by
``introrank.model.features``). Each owner's and each contact's attributes are
read once into arrays (normalised text, parsed stage, target sets), and every
(owner, contact) row of ``pairs`` takes them by position: no string merges, so a
cold profile of 2,000 contacts costs a few milliseconds instead of ~27.
``tests/test_profile_features.py`` holds it equal, on every row and column, to
the pandas-merge implementation it replaced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
from introrank.model.seniority import stages_from_titles

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

# How much each goal cares about (industry match, company match, stage 2-3 ahead).
GOAL_RELEVANCE_WEIGHTS = {
    JOB_SEARCH: (0.4, 0.6, 0.0),
    SKILL_BUILDING: (0.3, 0.0, 0.7),
    BUSINESS_GROWTH: (0.6, 0.4, 0.0),
    CAREER_SUPPORT: (0.2, 0.0, 0.8),
}
_KEY_SEP = "\x1f"


def static_features(pairs: pd.DataFrame, owners: pd.DataFrame, contacts: pd.DataFrame,
                    goal: str | None = None) -> pd.DataFrame:
    """Profile features of each (owner_id, contact_id) row of ``pairs``, in its order (index kept).

    Unknown attributes stay NaN (an owner or contact not given: every attribute
    unknown). ``goal`` overrides every owner's stored goal (the endpoint's ``goal``
    parameter). Duplicate owner or contact keys: the first row counts.
    """
    owner_ids = pairs[OWNER_ID].astype(str).to_numpy(object)
    contact_ids = pairs[CONTACT_ID].astype(str).to_numpy(object)
    n = len(owner_ids)
    owner_keys = owners[OWNER_ID].astype(str).to_numpy(object)
    at_owner = _positions(owner_keys, owner_ids)
    contact_keys = _joined(contacts[OWNER_ID].astype(str).to_numpy(object),
                           contacts[CONTACT_ID].astype(str).to_numpy(object))
    at_contact = _positions(contact_keys, _joined(owner_ids, contact_ids))
    has_owner, has_contact = at_owner >= 0, at_contact >= 0

    o_industry = _texts(owners[INDUSTRY]) if INDUSTRY in owners else np.full(len(owners), None, object)
    o_stage, o_inferred = stage_or_title(owners, None, owners[INDUSTRY] if INDUSTRY in owners else None)
    o_goals = owners[GOAL].to_numpy(object) if GOAL in owners else np.full(len(owners), None, object)
    targets_ind = [set(t) if t else ({own} if own else set()) for t, own in
                   zip(_as_lists(owners, TARGET_INDUSTRIES), o_industry.tolist(), strict=True)]
    targets_comp = [set(t) for t in _as_lists(owners, TARGET_COMPANIES)]

    c_stage, c_inferred = stage_or_title(contacts, contacts[COMPANY], contacts[INDUSTRY])
    c_industry, c_company = _texts(contacts[INDUSTRY]), _texts(contacts[COMPANY])
    mutual = contacts[MUTUAL_CONNECTIONS] if MUTUAL_CONNECTIONS in contacts else np.nan
    c_mutual = pd.to_numeric(pd.Series(mutual, index=contacts.index), errors="coerce").to_numpy(float)

    owner_stage = _take(o_stage, at_owner, has_owner)
    contact_stage = _take(c_stage, at_contact, has_contact)
    gap = contact_stage - owner_stage
    ahead = np.where(np.isnan(gap), np.nan, ((gap == 2) | (gap == 3)).astype(float))
    industry = _match(c_industry, at_contact, has_contact, targets_ind, at_owner, has_owner)
    company = _match(c_company, at_contact, has_contact, targets_comp, at_owner, has_owner)
    if goal is not None:  # the override holds for every row, a row without its owner too
        goal_of_row = np.full(n, goal, object)
    else:
        goal_of_row = np.asarray(np.where(has_owner, o_goals[np.maximum(at_owner, 0)], None)) if len(owners) \
            else np.full(n, None, object)
    weight_of = {g: GOAL_RELEVANCE_WEIGHTS.get(g, (0.0, 0.0, 0.0)) for g in set(goal_of_row.tolist())}
    w = np.array([weight_of[g] for g in goal_of_row.tolist()], dtype=float).reshape(-1, 3)
    relevance = (w * np.column_stack([np.nan_to_num(industry), np.nan_to_num(company),
                                      np.nan_to_num(ahead)])).sum(axis=1)
    out = np.column_stack([
        owner_stage, contact_stage, gap, ahead,
        _take(o_inferred, at_owner, has_owner, 0.0), _take(c_inferred, at_contact, has_contact, 0.0),
        _take(c_mutual, at_contact, has_contact), industry, company, relevance,
        *((goal_of_row == g).astype(float) for g in GOALS),
    ]) if n else np.empty((0, len(STATIC_FEATURES)))
    return pd.DataFrame(out, columns=list(STATIC_FEATURES), index=pairs.index)


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


def _joined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One text key per (a, b) row: an Index of them is one hash lookup per row."""
    return a + _KEY_SEP + b if len(a) else np.empty(0, object)


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of the first ``keys`` entry equal to each ``wanted``, -1 where there is none."""
    if not len(wanted) or not len(keys):
        return np.full(len(wanted), -1, dtype=np.int64)
    index = pd.Index(keys)
    if index.is_unique:
        return index.get_indexer(wanted).astype(np.int64)
    first = np.flatnonzero(~index.duplicated(keep="first"))
    at = pd.Index(keys[first]).get_indexer(wanted)
    return np.where(at >= 0, first[np.maximum(at, 0)], -1).astype(np.int64)


def _take(values: np.ndarray, at: np.ndarray, found: np.ndarray, missing: float = np.nan) -> np.ndarray:
    if not len(values):
        return np.full(len(at), missing)
    return np.where(found, values[np.maximum(at, 0)], missing)


def _text(value: object) -> str | None:
    """Lower-cased, trimmed text; unknown (None, NaN, pandas' NA, empty) is None."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return text or None


def _texts(column: pd.Series) -> np.ndarray:
    """``_text`` of each value, each distinct value normalised once (a CRM has few industries)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    normalised = np.array([_text(v) for v in np.asarray(uniques, dtype=object).tolist()] + [None], dtype=object)
    return normalised[codes]  # code -1 (missing) takes the trailing None


def _match(values: np.ndarray, at: np.ndarray, found: np.ndarray, targets: list[set[str]],
           at_owner: np.ndarray, has_owner: np.ndarray) -> np.ndarray:
    """1 when the row's contact value is in its owner's targets, 0 when not, NaN when the value is unknown."""
    value = np.asarray(np.where(found, values[np.maximum(at, 0)], None)) if len(values) \
        else np.full(len(at), None, object)
    owner = np.where(has_owner, at_owner, -1).tolist()
    return np.array([np.nan if v is None else float(o >= 0 and v in targets[o])
                     for v, o in zip(value.tolist(), owner, strict=True)], dtype=float)


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
