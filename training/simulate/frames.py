"""Codes -> the typed frames of a CRM export (ids, names, titles, tags, gaps) plus the oracle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
    MIN_STAGE,
    MUTUAL_CONNECTIONS,
    NAME,
    OCCURRED_AT,
    ORACLE_COLUMNS,
    OWNER_ID,
    TAGS,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
    TYPE,
    USEFUL,
)
from introrank.training.simulate.events import Events
from introrank.training.simulate.outcomes import USEFUL_TRUE, USEFUL_UNKNOWN
from introrank.training.simulate.population import COMPANIES, COMPANY_INDUSTRY, INDUSTRIES, Contacts, Owners

_FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
                "Kemi", "Liam", "Mei", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq")
_LAST_NAMES = ("Adams", "Berg", "Chen", "Diaz", "Eze", "Fischer", "Garcia", "Haddad", "Ito",
               "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi",
               "Silva", "Tanaka", "Weber")
_TITLES_BY_STAGE = (
    ("Student", "Intern"), ("Associate", "Junior Analyst"), ("Analyst", "Engineer"),
    ("Senior Engineer", "Senior Consultant"), ("Team Lead", "Manager"),
    ("Director", "Head of Product"), ("Vice President", "Chief Executive"),
)
_TAGS = ("alumni", "conference", "former-colleague", "meetup", "client", "recruiter")

_MISSING_P, _DO_NOT_RECOMMEND_P = 0.03, 0.01


@dataclass(frozen=True)
class SimulatedNetwork:
    """The simulated CRM export plus the oracle.

    Frames hold typed values (tz-aware UTC datetimes, nullable Int64 / boolean where
    a value can be unknown); ``write_network`` renders them in the CSV import format.
    """

    owners: pd.DataFrame  # owner_id,career_stage,industry,goal,target_industries,target_companies
    contacts: pd.DataFrame  # owner_id,contact_id,company,industry,title,career_stage,name,tags,...
    events: pd.DataFrame  # event_id,owner_id,contact_id,occurred_at,type,direction,useful
    oracle: pd.DataFrame  # owner_id,contact_id,cut,probability


def ids(prefix: str, n: int) -> pd.Series:
    """Zero-padded so text order equals numeric order."""
    width = len(str(max(n - 1, 0)))
    return prefix + pd.Series(np.arange(n)).astype(str).str.zfill(width)


def _lookup(vocabulary: pd.Series | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """Text column from integer codes into a vocabulary (ids, type names, companies)."""
    return pd.Series(pd.array(vocabulary, dtype="str").take(codes))


def _joined(mask: np.ndarray, names: tuple[str, ...]) -> list[str]:
    return [LIST_SEPARATOR.join(names[j] for j in np.flatnonzero(row)) for row in mask]


def owners_frame(owners: Owners, owner_ids: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        OWNER_ID: owner_ids,
        CAREER_STAGE: owners.stage.astype(np.int64),
        INDUSTRY: _lookup(INDUSTRIES, owners.industry),
        GOAL: _lookup(GOALS, owners.goal),
        TARGET_INDUSTRIES: _joined(owners.target_industry, INDUSTRIES),
        TARGET_COMPANIES: _joined(owners.target_company, COMPANIES),
    })


def _with_gaps(rng: np.random.Generator, values: pd.Series | np.ndarray) -> pd.Series:
    """Blank out a few percent: real CRM exports have unknown fields."""
    series = pd.Series(values)
    return series.mask(rng.random(len(series)) < _MISSING_P)


def _names_titles_tags(rng: np.random.Generator, stage: np.ndarray) -> tuple[pd.Series, ...]:
    """Decoration a CRM would have; titles follow the true stage, so they hint at it."""
    n = len(stage)
    first, last = rng.integers(0, len(_FIRST_NAMES), n), rng.integers(0, len(_LAST_NAMES), n)
    names = tuple(f"{a} {b}" for a in _FIRST_NAMES for b in _LAST_NAMES)
    titles = tuple(t for pair in _TITLES_BY_STAGE for t in pair)
    title = (stage - MIN_STAGE) * 2 + rng.integers(0, 2, n)
    tag_a = rng.integers(0, len(_TAGS), n)
    tag_b = (tag_a + rng.integers(1, len(_TAGS), n)) % len(_TAGS)
    tag_sets = ("",) + _TAGS + tuple(f"{a}{LIST_SEPARATOR}{b}" for a in _TAGS for b in _TAGS)
    u = rng.random(n)
    tags = np.where(u < 0.55, 0, np.where(u < 0.9, 1 + tag_a, 1 + len(_TAGS) * (1 + tag_a) + tag_b))
    return (_lookup(names, first * len(_LAST_NAMES) + last), _lookup(titles, title),
            _lookup(tag_sets, tags))


def contacts_frame(rng: np.random.Generator, contacts: Contacts, owner_ids: pd.Series,
                    contact_ids: pd.Series) -> pd.DataFrame:
    name, title, tags = _names_titles_tags(rng, contacts.stage)
    industry = COMPANY_INDUSTRY[contacts.company]
    return pd.DataFrame({
        OWNER_ID: _lookup(owner_ids, contacts.owner),
        CONTACT_ID: contact_ids,
        COMPANY: _with_gaps(rng, _lookup(COMPANIES, contacts.company)),
        INDUSTRY: _with_gaps(rng, _lookup(INDUSTRIES, industry)),
        TITLE: _with_gaps(rng, title),
        CAREER_STAGE: _with_gaps(rng, contacts.stage).astype("Int64"),
        NAME: name,
        TAGS: tags,
        DO_NOT_RECOMMEND: rng.random(len(name)) < _DO_NOT_RECOMMEND_P,
        MUTUAL_CONNECTIONS: contacts.mutual.astype(np.int64),
    })


def _utc(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True))


def events_frame(events: Events, pair_owner: np.ndarray, owner_ids: pd.Series,
                  contact_ids: pd.Series) -> pd.DataFrame:
    """Sorted by owner, then time; ties keep the (seeded) generation order."""
    since = events.ts - events.ts.min(initial=0)
    key = (pair_owner[events.pair].astype(np.int64) << 32) | since
    ev = events.take(np.argsort(key, kind="stable"))
    useful = pd.arrays.BooleanArray(ev.useful == USEFUL_TRUE, ev.useful == USEFUL_UNKNOWN)
    return pd.DataFrame({
        EVENT_ID: ids("e", len(ev.pair)),
        OWNER_ID: _lookup(owner_ids, pair_owner[ev.pair]),
        CONTACT_ID: _lookup(contact_ids, ev.pair),
        OCCURRED_AT: _utc(ev.ts),
        TYPE: _lookup(EVENT_TYPES, ev.kind),
        DIRECTION: _lookup(DIRECTIONS, ev.direction),
        USEFUL: useful,
    })


def oracle_frame(pair: np.ndarray, cut: np.ndarray, probability: np.ndarray,
                  pair_owner: np.ndarray, owner_ids: pd.Series,
                  contact_ids: pd.Series) -> pd.DataFrame:
    """One row per (owner, cut, contact) candidate, in that order."""
    order = np.lexsort((pair, cut, pair_owner[pair]))
    pair, cut, probability = pair[order], cut[order], probability[order]
    owner_col, contact_col, cut_col, prob_col = ORACLE_COLUMNS
    return pd.DataFrame({
        owner_col: _lookup(owner_ids, pair_owner[pair]),
        contact_col: _lookup(contact_ids, pair),
        cut_col: _utc(cut),
        prob_col: probability,
    })
