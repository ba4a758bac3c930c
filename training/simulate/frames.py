"""Codes -> the typed frames of a CRM export (ids, names, titles, tags, gaps) plus the oracle."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

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
# Titles as CRMs hold them, each one read by ``introrank.model.seniority`` as its stage (a test
# checks it): individual-contributor "managers" at 3, VPs at 7, and so on. ``{r}`` is a role,
# ``{f}`` a function, ``{m}`` a function whose "... Manager" runs a team.
_ROLES = ("Software Engineer", "Data Analyst", "Consultant", "Product Designer", "Accountant", "Data Scientist",
          "Account Executive", "Recruiter", "Financial Analyst", "Marketing Specialist")
_FUNCTIONS = ("Engineering", "Sales", "Marketing", "Finance", "Operations", "Data Science", "Design", "People",
              "Partnerships", "Customer Success")
_MANAGED = _FUNCTIONS[:8]  # a "Partnerships Manager" or "Customer Success Manager" manages no one
_TITLE_TEMPLATES_BY_STAGE = (
    ("Student", "MBA Student", "{f} Intern", "Summer Intern", "PhD Student"),
    ("Junior {r}", "Associate {r}", "Jr. {r}", "{f} Coordinator", "Associate", "Associate Product Manager"),
    ("{r}", "{r}", "Account Manager", "Product Manager", "Project Manager", "{r} II"),
    ("Senior {r}", "Sr. {r}", "Staff Engineer", "Principal Consultant", "Senior Product Manager",
     "Solutions Architect"),
    ("{m} Manager", "Team Lead", "Head of {f}", "Engineering Manager", "Tech Lead", "Senior Manager, {f}"),
    ("Director of {f}", "Senior Director, {f}", "{f} Director", "General Manager", "Director"),
    ("VP {f}", "VP, {f}", "Vice President of {f}", "CEO", "CTO", "Co-Founder & CEO", "Managing Director",
     "Partner", "Chief Operating Officer"),
)
# Titles in another language, which the parser leaves unknown (as it should).
_FOREIGN_TITLES = ("Ingeniero de Software", "Geschäftsführer", "Chef de projet", "Directeur Commercial",
                   "Analista de Datos", "Projektleiter", "Gerente de Ventas", "Desarrolladora")
_TAGS = ("alumni", "conference", "former-colleague", "meetup", "client", "recruiter")

_MISSING_P, _DO_NOT_RECOMMEND_P = 0.03, 0.01
_FOREIGN_TITLE_P = 0.03
# Most real exports have a title and no stage: this share of contacts (and of owners) has only the title.
_TITLE_ONLY_P, _OWNER_TITLE_ONLY_P = 0.3, 0.2


@dataclass(frozen=True)
class SimulatedNetwork:
    """The simulated CRM export plus the oracle.

    Frames hold typed values (tz-aware UTC datetimes, nullable Int64 / boolean where
    a value can be unknown); ``write_network`` renders them in the CSV import format.
    """

    owners: pd.DataFrame  # owner_id,career_stage,industry,goal,target_industries,target_companies,title
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


def owners_frame(rng: np.random.Generator, owners: Owners, owner_ids: pd.Series) -> pd.DataFrame:
    """Owners with titles; a share of them give only the title, as a CRM's users do."""
    title = _titles(rng, owners.stage)
    stage = pd.Series(owners.stage.astype(np.int64)).astype("Int64")
    return pd.DataFrame({
        OWNER_ID: owner_ids,
        CAREER_STAGE: stage.mask(rng.random(len(stage)) < _OWNER_TITLE_ONLY_P),
        INDUSTRY: _lookup(INDUSTRIES, owners.industry),
        GOAL: _lookup(GOALS, owners.goal),
        TARGET_INDUSTRIES: _joined(owners.target_industry, INDUSTRIES),
        TARGET_COMPANIES: _joined(owners.target_company, COMPANIES),
        TITLE: title,
    })


@cache
def _title_vocabulary() -> tuple[tuple[str, ...], ...]:
    """Every title of each stage, templates filled in (one tuple per stage)."""
    return tuple(tuple(title for template in templates for title in _filled(template))
                 for templates in _TITLE_TEMPLATES_BY_STAGE)


def _filled(template: str) -> tuple[str, ...]:
    for key, values in (("r", _ROLES), ("f", _FUNCTIONS), ("m", _MANAGED)):
        if "{" + key + "}" in template:
            return tuple(template.format(**{key: value}) for value in values)
    return (template,)


def _titles(rng: np.random.Generator, stage: np.ndarray) -> pd.Series:
    """A title of each row's stage, uniform over that stage's titles; a few in another language."""
    vocabulary = _title_vocabulary()
    sizes = np.array([len(v) for v in vocabulary])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    row = stage - MIN_STAGE
    pick = offsets[row] + np.floor(rng.random(len(stage)) * sizes[row]).astype(np.int64)
    every = tuple(t for v in vocabulary for t in v) + _FOREIGN_TITLES
    foreign = rng.random(len(stage)) < _FOREIGN_TITLE_P
    pick = np.where(foreign, len(every) - len(_FOREIGN_TITLES) + rng.integers(0, len(_FOREIGN_TITLES),
                                                                              len(stage)), pick)
    return _lookup(every, pick)


def _with_gaps(rng: np.random.Generator, values: pd.Series | np.ndarray) -> pd.Series:
    """Blank out a few percent: real CRM exports have unknown fields."""
    series = pd.Series(values)
    return series.mask(rng.random(len(series)) < _MISSING_P)


def _names_titles_tags(rng: np.random.Generator, stage: np.ndarray) -> tuple[pd.Series, ...]:
    """Decoration a CRM would have; titles follow the true stage, so they hint at it."""
    n = len(stage)
    first, last = rng.integers(0, len(_FIRST_NAMES), n), rng.integers(0, len(_LAST_NAMES), n)
    names = tuple(f"{a} {b}" for a in _FIRST_NAMES for b in _LAST_NAMES)
    title = _titles(rng, stage)
    tag_a = rng.integers(0, len(_TAGS), n)
    tag_b = (tag_a + rng.integers(1, len(_TAGS), n)) % len(_TAGS)
    tag_sets = ("",) + _TAGS + tuple(f"{a}{LIST_SEPARATOR}{b}" for a in _TAGS for b in _TAGS)
    u = rng.random(n)
    tags = np.where(u < 0.55, 0, np.where(u < 0.9, 1 + tag_a, 1 + len(_TAGS) * (1 + tag_a) + tag_b))
    return _lookup(names, first * len(_LAST_NAMES) + last), title, _lookup(tag_sets, tags)


def contacts_frame(rng: np.random.Generator, contacts: Contacts, owner_ids: pd.Series,
                    contact_ids: pd.Series) -> pd.DataFrame:
    name, title, tags = _names_titles_tags(rng, contacts.stage)
    industry = COMPANY_INDUSTRY[contacts.company]
    stage = _with_gaps(rng, contacts.stage).astype("Int64")
    stage = stage.mask(rng.random(len(stage)) < _TITLE_ONLY_P)
    return pd.DataFrame({
        OWNER_ID: _lookup(owner_ids, contacts.owner),
        CONTACT_ID: contact_ids,
        COMPANY: _with_gaps(rng, _lookup(COMPANIES, contacts.company)),
        INDUSTRY: _with_gaps(rng, _lookup(INDUSTRIES, industry)),
        TITLE: _with_gaps(rng, title),
        CAREER_STAGE: stage,
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
