"""Typed frames from the read strings: vectorised checks and conversions, the first bad line reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from introrank.model.constants import (
    CAREER_STAGE,
    COMPANY,
    CONTACT_ID,
    DIRECTION,
    DIRECTIONS,
    DO_NOT_RECOMMEND,
    EVENT_ID,
    EVENT_TYPES,
    GOAL,
    GOALS,
    INDUSTRY,
    LIST_SEPARATOR,
    MAX_STAGE,
    MIN_STAGE,
    MUTUAL_CONNECTIONS,
    NAME,
    OCCURRED_AT,
    OWNER_ID,
    TAGS,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
    TYPE,
    USEFUL,
)
from introrank.model.grammar import MAX_MUTUAL_CONNECTIONS
from introrank.service.store.csv_import.checks import Checks


def _text_or_none(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values != "", None)


def _split_list(values: pd.Series) -> pd.Series:
    return pd.Series(
        [[p for p in (s.strip() for s in v.split(LIST_SEPARATOR)) if p] if v else [] for v in values],
        index=values.index,
        dtype=object,
    )


def validate_owners(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed owners: goal required; empty stage/industry/targets/title are unknown."""
    checks = Checks(frame, Path(path))
    checks.required(OWNER_ID, GOAL)
    checks.ids(OWNER_ID)
    checks.texts(INDUSTRY)
    for column in (TARGET_INDUSTRIES, TARGET_COMPANIES):
        checks.lists(column, LIST_SEPARATOR)
    out = pd.DataFrame({OWNER_ID: frame[OWNER_ID].astype(object)}, index=frame.index)
    out[CAREER_STAGE] = checks.integer(CAREER_STAGE, MIN_STAGE, MAX_STAGE, "career stage")
    out[INDUSTRY] = _text_or_none(frame[INDUSTRY])
    out[GOAL] = checks.choice(GOAL, GOALS, "goal").astype(object)
    if TITLE in frame.columns:
        out[TITLE] = _text_or_none(frame[TITLE])
    for column in (TARGET_INDUSTRIES, TARGET_COMPANIES):
        if column in frame.columns:
            out[column] = _split_list(frame[column])
    checks.raise_first()
    return out


def validate_contacts(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed contacts: only the ids are required; every attribute may be unknown."""
    checks = Checks(frame, Path(path))
    checks.required(OWNER_ID, CONTACT_ID)
    checks.ids(OWNER_ID, CONTACT_ID)
    checks.texts(COMPANY, INDUSTRY, TITLE, NAME)
    checks.lists(TAGS, LIST_SEPARATOR)
    out = frame[[OWNER_ID, CONTACT_ID]].astype(object)
    for column in (COMPANY, INDUSTRY, TITLE, NAME):
        if column in frame.columns:
            out[column] = _text_or_none(frame[column])
    out[CAREER_STAGE] = checks.integer(CAREER_STAGE, MIN_STAGE, MAX_STAGE, "career stage")
    if TAGS in frame.columns:
        out[TAGS] = _split_list(frame[TAGS])
    if MUTUAL_CONNECTIONS in frame.columns:
        out[MUTUAL_CONNECTIONS] = checks.integer(MUTUAL_CONNECTIONS, 0, MAX_MUTUAL_CONNECTIONS,
                                                   "mutual connections")
    if DO_NOT_RECOMMEND in frame.columns:
        out[DO_NOT_RECOMMEND] = checks.boolean(DO_NOT_RECOMMEND, default=False)
    checks.raise_first()
    return out


def validate_events(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed events: ids, type, direction and an offset-aware time are required."""
    checks = Checks(frame, Path(path))
    checks.required(EVENT_ID, OWNER_ID, CONTACT_ID, OCCURRED_AT, TYPE, DIRECTION)
    checks.ids(EVENT_ID, OWNER_ID, CONTACT_ID)
    out = frame[[EVENT_ID, OWNER_ID, CONTACT_ID]].copy()
    out[OCCURRED_AT] = checks.timestamp(OCCURRED_AT)
    out[TYPE] = checks.choice(TYPE, EVENT_TYPES, "event type")
    out[DIRECTION] = checks.choice(DIRECTION, DIRECTIONS, "direction")
    out[USEFUL] = checks.boolean(USEFUL, default=None) if USEFUL in frame.columns else None
    checks.raise_first()
    return out
