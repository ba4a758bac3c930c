"""A seeded, vectorised world of owners, contacts and their interactions (SPEC "Simulator").

Why simulate: the ranker's quality is only meaningful next to the best possible
ranking, and only a simulator knows the true probability of a useful introduction
(the oracle). Demos, tests and benchmarks also need data that is not anyone's PII.

The generative story:

1. A fixed pool of companies, each in one of ``INDUSTRIES``.
2. Owners: career stage 1..7, industry, a goal whose distribution depends on the
   stage (early career: job search and skill building; senior: career support and
   business growth), target industries and companies (goal-dependent, often empty).
3. Contacts: 50..2,000 per owner (clipped lognormal, median ~150); companies biased
   toward the owner's industry and targets; career stages around the owner's; a
   latent tie strength, ``mutual_connections`` as a noisy reading of it, and
   latent helpfulness and reach.
4. Weekly steps over all pairs at once: a monthly active/dormant Markov regime per
   pair (ties cool down and revive), Poisson counts of owner touches, messages,
   meetings, gives and asks and of unsolicited contact events; each outbound event
   is answered within a week with a probability set by helpfulness.
5. Intros and referrals from a known weekly hazard per pair (``_static_log_hazard``
   plus ``_TieState.dynamic_log_hazard``; coefficients are the constants below):

   log λ = base + owner effect + WARMTH_COEF·log1p(warmth)
           + BALANCE_COEF·tanh(give_minus_ask / 3)
           + stage-gap effect (best 2-3 stages ahead, less for 1 or 4+, low at or below 0)
           + goal relevance (industry match with the target industries, or the owner's
             own industry when there are none, and company match with the target
             companies, weighted per goal)
           + tie effect (an inverted U in log1p(mutual_connections) for job search and
             business growth — moderately weak ties transmit most jobs, Rajkumar et al.,
             Science 2022 — and increasing for skill building and career support)
           + latent helpfulness and reach (sd ≈ 0.4 together; helpfulness also sets the
             reply rate, so it shows through responsiveness and past intros)
           − ASK_FATIGUE_COEF·(asks in the last 13 weeks)

   where warmth is the count of past events decayed with a 30-day half-life and
   give_minus_ask counts all past gives minus asks, both from the simulated events.
   The observable factors dominate on purpose: a model on features must be able to
   get close to the oracle and clearly beat recency and warmth alone.
6. The oracle: for each cut of ``introrank.training.cuts.cut_times`` and each pair with an
   event before it, 1 − exp(−(1 − P(useful=false)) · ∫ λ over (t, t + 90 days]),
   integrated along the realised path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from introrank.model.constants import (
    ASK,
    BUSINESS_GROWTH,
    CAREER_STAGE,
    CAREER_SUPPORT,
    COMPANY,
    CONTACT_ID,
    CONTACTS_CSV,
    DEFAULT_CUT_EVERY_DAYS,
    DEFAULT_HORIZON_DAYS,
    DIRECTION,
    DIRECTION_CODES,
    DIRECTIONS,
    DO_NOT_RECOMMEND,
    EVENT_ID,
    EVENT_TYPE_CODES,
    EVENT_TYPES,
    EVENTS_CSV,
    GIVE,
    GOAL,
    GOALS,
    IN,
    INDUSTRY,
    INTRO,
    JOB_SEARCH,
    LIST_SEPARATOR,
    MAX_STAGE,
    MEETING,
    MESSAGE,
    MIN_STAGE,
    MUTUAL_CONNECTIONS,
    NAME,
    OCCURRED_AT,
    ORACLE_COLUMNS,
    ORACLE_CSV,
    OUT,
    OWNER_ID,
    OWNERS_CSV,
    REFERRAL,
    SKILL_BUILDING,
    TAGS,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
    TOUCH,
    TYPE,
    USEFUL,
)
from introrank.training.cuts import SECONDS_PER_DAY, cut_times

WEEK_SECONDS = 7 * SECONDS_PER_DAY
DAYS_PER_MONTH = 30
WEEKS_PER_REGIME = 4  # the activity regime is redrawn about monthly
ASK_MEMORY_WEEKS = 13  # ask fatigue looks back ~90 days
OWNERS_PER_CHUNK = 100  # bounds memory; one random stream per chunk, so keep it constant

INDUSTRIES = (
    "software", "finance", "healthcare", "education",
    "manufacturing", "retail", "media", "consulting",
)
_COMPANY_SUFFIXES = ("Labs", "Capital", "Health", "Learning", "Industries", "Stores", "Media",
                     "Partners")
_COMPANY_PREFIXES = (
    "Acme", "Northwind", "Blue Harbor", "Crescent", "Summit", "Redwood", "Ironclad", "Lumen",
    "Silverline", "Granite", "Evergreen", "Polaris", "Cobalt", "Juniper", "Meridian", "Atlas",
    "Beacon", "Cedar", "Horizon", "Keystone", "Orchid", "Pioneer", "Quartz", "Sterling", "Vertex",
)
COMPANIES = tuple(f"{p} {s}" for s in _COMPANY_SUFFIXES for p in _COMPANY_PREFIXES)
COMPANY_INDUSTRY = np.repeat(np.arange(len(INDUSTRIES)), len(_COMPANY_PREFIXES))
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

# --- owners (rows of goal-indexed tables follow constants.GOALS) ---------------------
_STAGE_WEIGHTS = (0.08, 0.20, 0.22, 0.20, 0.14, 0.10, 0.06)
_GOAL_WEIGHTS_BY_STAGE = np.array([  # columns: job_search, skill_building, business_growth, support
    (0.45, 0.40, 0.05, 0.10), (0.50, 0.30, 0.08, 0.12), (0.35, 0.25, 0.22, 0.18),
    (0.28, 0.17, 0.30, 0.25), (0.15, 0.12, 0.38, 0.35), (0.10, 0.08, 0.40, 0.42),
    (0.06, 0.06, 0.43, 0.45),
])


def _by_goal(table: dict[str, float]) -> np.ndarray:
    return np.array([table[g] for g in GOALS])


_TARGET_OWN_INDUSTRY_P = _by_goal({JOB_SEARCH: 0.7, SKILL_BUILDING: 0.3, BUSINESS_GROWTH: 0.4,
                                   CAREER_SUPPORT: 0.1})
_TARGET_OTHER_INDUSTRY_P = _by_goal({JOB_SEARCH: 0.15, SKILL_BUILDING: 0.08,
                                     BUSINESS_GROWTH: 0.25, CAREER_SUPPORT: 0.02})
_TARGET_COMPANY_P = _by_goal({JOB_SEARCH: 0.16, SKILL_BUILDING: 0.04, BUSINESS_GROWTH: 0.12,
                              CAREER_SUPPORT: 0.0})  # per company of a targeted industry
_ASK_RATE_BY_GOAL = _by_goal({JOB_SEARCH: 0.035, SKILL_BUILDING: 0.018, BUSINESS_GROWTH: 0.028,
                              CAREER_SUPPORT: 0.01})  # asks per pair-week, before multipliers
_REFERRAL_SHARE = _by_goal({JOB_SEARCH: 0.6, SKILL_BUILDING: 0.15, BUSINESS_GROWTH: 0.5,
                            CAREER_SUPPORT: 0.2})

# --- contacts -------------------------------------------------------------------------
CONTACTS_MEDIAN, CONTACTS_SIGMA = 150, 0.9
MIN_CONTACTS, MAX_CONTACTS = 50, 2000
_FROM_TARGET_COMPANY_P, _FROM_OWN_INDUSTRY_P, _FROM_TARGET_INDUSTRY_P = 0.07, 0.35, 0.15
_STAGE_OFFSET_MEAN, _STAGE_OFFSET_SD = 0.6, 1.7
_MISSING_P, _DO_NOT_RECOMMEND_P = 0.03, 0.01
_PRESENT_AT_START_P = 0.75  # the rest of the ties form during the simulated months

# --- activity -------------------------------------------------------------------------
_ACTIVE_RATE = 0.16  # owner touches+messages+meetings per week, tie strength 0, active
_OUTBOUND_SHARES = {TOUCH: 0.5, MESSAGE: 0.35, MEETING: 0.15}
_GIVE_RATE = 0.03  # per pair-week when active, before the owner's and pair's multipliers
_INBOUND_SHARE = 0.35  # unsolicited contact events relative to the owner's outbound
_DORMANT_FACTOR = 0.08
_REPLY_TYPES, _REPLY_TYPE_P = (MESSAGE, TOUCH, MEETING), (0.6, 0.3, 0.1)
_REPLY_MEAN_DAYS, _REPLY_MAX_DAYS = 1.5, 6.9

# --- the intro / referral hazard ------------------------------------------------------
HAZARD_BASE = -7.4
WARMTH_COEF, BALANCE_COEF, ASK_FATIGUE_COEF = 0.45, 0.8, 0.3
WARMTH_HALF_LIFE_DAYS = 30
HELPFULNESS_SD, REACH_SD, OWNER_HAZARD_SD = 0.3, 0.25, 0.3
# Stage gap (contact minus owner), clipped to -1..5: low at or below, best 2-3 ahead.
_STAGE_GAP_EFFECT = np.array([-2.2, -1.45, 0.2, 1.45, 1.45, 0.4, -0.4])
_STAGE_COEF = _by_goal({JOB_SEARCH: 0.8, SKILL_BUILDING: 1.2, BUSINESS_GROWTH: 0.7,
                        CAREER_SUPPORT: 1.2})
_INDUSTRY_MATCH_COEF = _by_goal({JOB_SEARCH: 0.9, SKILL_BUILDING: 0.7, BUSINESS_GROWTH: 1.3,
                                 CAREER_SUPPORT: 0.5})
_COMPANY_MATCH_COEF = _by_goal({JOB_SEARCH: 2.0, SKILL_BUILDING: 0.5, BUSINESS_GROWTH: 1.6,
                                CAREER_SUPPORT: 0.4})
_WEAK_TIES_TRANSMIT = _by_goal({JOB_SEARCH: 1.0, SKILL_BUILDING: 0.0, BUSINESS_GROWTH: 1.0,
                                CAREER_SUPPORT: 0.0}).astype(bool)
_TIE_PEAK = np.log1p(3.0)  # a few mutual connections: a moderately weak tie
USEFUL_FALSE_P, USEFUL_TRUE_P = 0.10, 0.40
_USEFUL_UNKNOWN, _USEFUL_FALSE, _USEFUL_TRUE = 0, 1, 2


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


@dataclass(frozen=True)
class _Clock:
    """Week grid of the simulation: week k covers [start + 7k days, start + 7(k+1) days)."""

    start: int
    end: int

    @property
    def n_weeks(self) -> int:
        return -(-(self.end - self.start) // WEEK_SECONDS)

    def week(self, k: int) -> tuple[int, int]:
        t0 = self.start + k * WEEK_SECONDS
        return t0, min(t0 + WEEK_SECONDS, self.end)


@dataclass(frozen=True)
class _Owners:
    stage: np.ndarray
    industry: np.ndarray
    goal: np.ndarray
    target_industry: np.ndarray  # bool (owners, industries)
    target_company: np.ndarray  # bool (owners, companies)


@dataclass(frozen=True)
class _Contacts:
    owner: np.ndarray
    company: np.ndarray
    stage: np.ndarray
    strength: np.ndarray  # latent tie strength, standard normal
    mutual: np.ndarray
    helpfulness: np.ndarray  # standard normal
    reach: np.ndarray  # standard normal
    entry_week: np.ndarray


@dataclass(frozen=True)
class _PairRates:
    """Everything the weekly loop needs per pair, precomputed so chunks just slice it."""

    activity: np.ndarray  # (pairs, columns of _ACTIVITY_COLUMNS): events per active week
    reply_p: np.ndarray
    wake_p: np.ndarray
    sleep_p: np.ndarray
    referral_share: np.ndarray
    static_log_hazard: np.ndarray
    entry_week: np.ndarray

    def __getitem__(self, rows: slice) -> _PairRates:
        return _PairRates(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def __len__(self) -> int:
        return len(self.reply_p)


@dataclass(frozen=True)
class _Events:
    """A batch of events as codes: pair index, epoch seconds, type, direction, useful."""

    pair: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    direction: np.ndarray
    useful: np.ndarray

    @classmethod
    def concat(cls, batches: list[_Events]) -> _Events:
        return cls(*(np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)))

    @classmethod
    def empty(cls) -> _Events:
        return cls.of(*(np.empty(0),) * 4)

    @classmethod
    def of(cls, pair: np.ndarray, ts: np.ndarray, kind: np.ndarray, direction: np.ndarray,
           useful: np.ndarray | None = None) -> _Events:
        useful = np.zeros(len(pair), np.int8) if useful is None else useful
        return cls(pair.astype(np.int32), ts.astype(np.int64), kind.astype(np.int8),
                   direction.astype(np.int8), useful.astype(np.int8))

    def take(self, rows: np.ndarray) -> _Events:
        return _Events(*(getattr(self, f.name)[rows] for f in fields(self)))

    def shifted(self, offset: int) -> _Events:
        """The same events with pair indices of a chunk made global."""
        return _Events(self.pair + offset, self.ts, self.kind, self.direction, self.useful)


def sample_contact_counts(rng: np.random.Generator, n_owners: int) -> np.ndarray:
    """Contacts per owner: a clipped lognormal, because real networks are heavy-tailed."""
    raw = rng.lognormal(np.log(CONTACTS_MEDIAN), CONTACTS_SIGMA, size=n_owners)
    return np.clip(np.rint(raw), MIN_CONTACTS, MAX_CONTACTS).astype(np.int64)


def stage_gap_effect(gap: np.ndarray) -> np.ndarray:
    """Log-hazard effect of the contact being ``gap`` stages ahead of the owner."""
    return _STAGE_GAP_EFFECT[np.clip(gap, -1, 5) + 1]


def tie_effect(mutual: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Weak ties carry jobs and deals (inverted U); strong ties carry learning and support."""
    x = np.log1p(mutual)
    inverted_u = 1.1 - 0.55 * (x - _TIE_PEAK) ** 2
    increasing = 0.7 * (x - 1.8)
    return np.where(_WEAK_TIES_TRANSMIT[goal], inverted_u, increasing)


def _simulation_span(start: str, months: int) -> _Clock:
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    start_ts = int(stamp.timestamp())
    return _Clock(start_ts, start_ts + months * DAYS_PER_MONTH * SECONDS_PER_DAY)


def _draw_owners(rng: np.random.Generator, n: int) -> _Owners:
    """Stage first, then a stage-dependent goal, then goal-dependent targets."""
    stage = rng.choice(np.arange(MIN_STAGE, MAX_STAGE + 1), size=n, p=_STAGE_WEIGHTS)
    industry = rng.integers(0, len(INDUSTRIES), size=n)
    cum = _GOAL_WEIGHTS_BY_STAGE.cumsum(axis=1)[stage - MIN_STAGE]
    goal = (rng.random((n, 1)) > cum).sum(axis=1).clip(0, len(GOALS) - 1)
    own = np.arange(len(INDUSTRIES))[None, :] == industry[:, None]
    p_industry = np.where(own, _TARGET_OWN_INDUSTRY_P[goal, None],
                          _TARGET_OTHER_INDUSTRY_P[goal, None])
    target_industry = rng.random((n, len(INDUSTRIES))) < p_industry
    in_target = target_industry[:, COMPANY_INDUSTRY]
    target_company = in_target & (rng.random((n, len(COMPANIES))) < _TARGET_COMPANY_P[goal, None])
    return _Owners(stage, industry, goal, target_industry, target_company)


def _company_popularity(rng: np.random.Generator) -> np.ndarray:
    """Cumulative within-industry popularity (Zipf-like), so a few employers dominate."""
    ranks = np.tile(np.arange(len(_COMPANY_PREFIXES)), (len(INDUSTRIES), 1))
    weights = 1.0 / (1.0 + rng.permuted(ranks, axis=1))
    return np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)


def _pick_from_rows(rng: np.random.Generator, mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A uniform column index among the True cells of ``mask[row]`` (-1 when there are none)."""
    counts = mask.sum(axis=1)
    order = np.argsort(~mask, axis=1, kind="stable")
    k = np.floor(rng.random(len(rows)) * counts[rows]).astype(np.int64)
    return np.where(counts[rows] > 0, order[rows, np.minimum(k, mask.shape[1] - 1)], -1)


def _draw_companies(rng: np.random.Generator, owners: _Owners, owner: np.ndarray) -> np.ndarray:
    """Target company, else an industry (own, targeted or any), then a popular employer in it."""
    n = len(owner)
    source = rng.random(n)
    industry = rng.integers(0, len(INDUSTRIES), size=n)
    industry = np.where(source < _FROM_OWN_INDUSTRY_P, owners.industry[owner], industry)
    targeted = _pick_from_rows(rng, owners.target_industry, owner)
    use_target = (source >= _FROM_OWN_INDUSTRY_P) & (
        source < _FROM_OWN_INDUSTRY_P + _FROM_TARGET_INDUSTRY_P) & (targeted >= 0)
    industry = np.where(use_target, targeted, industry)
    cum = _company_popularity(rng)[industry]
    within = (rng.random((n, 1)) > cum).sum(axis=1).clip(0, len(_COMPANY_PREFIXES) - 1)
    company = industry * len(_COMPANY_PREFIXES) + within
    target = _pick_from_rows(rng, owners.target_company, owner)
    chosen = (rng.random(n) < _FROM_TARGET_COMPANY_P) & (target >= 0)
    return np.where(chosen, target, company)


def _draw_contacts(rng: np.random.Generator, owners: _Owners, n_weeks: int) -> _Contacts:
    counts = sample_contact_counts(rng, len(owners.stage))
    owner = np.repeat(np.arange(len(counts)), counts)
    n = len(owner)
    company = _draw_companies(rng, owners, owner)
    offset = np.rint(rng.normal(_STAGE_OFFSET_MEAN, _STAGE_OFFSET_SD, size=n)).astype(np.int64)
    stage = np.clip(owners.stage[owner] + offset, MIN_STAGE, MAX_STAGE)
    strength = rng.standard_normal(n)
    network_size = rng.normal(0.0, 0.3, size=len(counts))[owner]
    mean_mutual = np.exp(1.2 + 0.75 * strength + network_size + rng.normal(0.0, 0.3, size=n))
    mutual = rng.poisson(mean_mutual)
    helpfulness, reach = rng.standard_normal(n), rng.standard_normal(n)
    late = rng.random(n) >= _PRESENT_AT_START_P
    entry_week = np.where(late, rng.integers(1, max(n_weeks, 2), size=n), 0)
    return _Contacts(owner, company, stage, strength, mutual, helpfulness, reach, entry_week)


def _goal_relevance(owners: _Owners, contacts: _Contacts) -> np.ndarray:
    """Industry match (targets, else the owner's own industry) and company match, by goal."""
    o, goal = contacts.owner, owners.goal[contacts.owner]
    industry = COMPANY_INDUSTRY[contacts.company]
    has_targets = owners.target_industry.any(axis=1)[o]
    industry_match = np.where(has_targets, owners.target_industry[o, industry],
                              owners.industry[o] == industry)
    company_match = owners.target_company[o, contacts.company]
    return _INDUSTRY_MATCH_COEF[goal] * industry_match + _COMPANY_MATCH_COEF[goal] * company_match


def _static_log_hazard(rng: np.random.Generator, owners: _Owners,
                       contacts: _Contacts) -> np.ndarray:
    """The part of log λ fixed for the whole simulation (profiles and latents)."""
    goal = owners.goal[contacts.owner]
    gap = contacts.stage - owners.stage[contacts.owner]
    owner_effect = rng.normal(0.0, OWNER_HAZARD_SD, size=len(owners.stage))[contacts.owner]
    return (HAZARD_BASE + owner_effect + _STAGE_COEF[goal] * stage_gap_effect(gap)
            + _goal_relevance(owners, contacts) + tie_effect(contacts.mutual, goal)
            + HELPFULNESS_SD * contacts.helpfulness + REACH_SD * contacts.reach)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pair_rates(rng: np.random.Generator, owners: _Owners, contacts: _Contacts) -> _PairRates:
    """Activity rates: strong ties are busier, owners differ in activity, giving and asking."""
    n_owners, o = len(owners.stage), contacts.owner
    activity = np.exp(rng.normal(0.0, 0.4, size=n_owners))[o]
    owner_give = np.exp(rng.normal(0.0, 0.8, size=n_owners))[o]
    owner_ask = np.exp(rng.normal(0.0, 0.6, size=n_owners))[o] * _ASK_RATE_BY_GOAL[owners.goal[o]]
    pair_give, pair_ask = (np.exp(rng.normal(0.0, 0.6, size=(2, len(o)))))
    s, h = contacts.strength, contacts.helpfulness
    outbound = _ACTIVE_RATE * activity * np.exp(s)
    inbound = _INBOUND_SHARE * outbound * np.exp(0.4 * h)
    shares = np.array(list(_OUTBOUND_SHARES.values()))
    return _PairRates(
        activity=np.column_stack([
            outbound[:, None] * shares,
            _GIVE_RATE * owner_give * pair_give * np.exp(0.5 * s),
            owner_ask * pair_ask * np.exp(0.3 * s),
            inbound[:, None] * shares,
        ]),
        reply_p=_sigmoid(-0.4 + 1.2 * h),
        wake_p=_sigmoid(-1.6 + 0.8 * s),
        sleep_p=_sigmoid(-1.3 - 0.6 * s),
        referral_share=_REFERRAL_SHARE[owners.goal[o]],
        static_log_hazard=_static_log_hazard(rng, owners, contacts),
        entry_week=contacts.entry_week,
    )


@dataclass
class _TieState:
    """What the hazard remembers per pair; updated in place once per week."""

    warmth: np.ndarray
    give_minus_ask: np.ndarray
    ask_ring: np.ndarray  # (ASK_MEMORY_WEEKS, pairs): asks per past week
    active: np.ndarray
    first_ts: np.ndarray

    @classmethod
    def start(cls, rng: np.random.Generator, rates: _PairRates) -> _TieState:
        n = len(rates)
        stationary = rates.wake_p / (rates.wake_p + rates.sleep_p)
        return cls(np.zeros(n), np.zeros(n), np.zeros((ASK_MEMORY_WEEKS, n)),
                   rng.random(n) < stationary, np.full(n, np.iinfo(np.int64).max))

    def dynamic_log_hazard(self) -> np.ndarray:
        return (WARMTH_COEF * np.log1p(self.warmth)
                + BALANCE_COEF * np.tanh(self.give_minus_ask / 3.0)
                - ASK_FATIGUE_COEF * self.ask_ring.sum(axis=0))

    def switch_regimes(self, rng: np.random.Generator, rates: _PairRates) -> None:
        u = rng.random(len(self.active))
        self.active = np.where(self.active, u >= rates.sleep_p, u < rates.wake_p)

    def absorb(self, events: _Events, week: int, t0: int, t1: int) -> None:
        """Fold the events of [t0, t1) into warmth, balance, ask memory and first contact."""
        n = len(self.warmth)
        half_life = WARMTH_HALF_LIFE_DAYS * SECONDS_PER_DAY
        fresh = np.exp2(-(t1 - events.ts) / half_life)
        self.warmth = self.warmth * np.exp2(-(t1 - t0) / half_life) + np.bincount(
            events.pair, weights=fresh, minlength=n)
        gives = np.bincount(events.pair[events.kind == EVENT_TYPE_CODES[GIVE]], minlength=n)
        asks = np.bincount(events.pair[events.kind == EVENT_TYPE_CODES[ASK]], minlength=n)
        self.give_minus_ask = self.give_minus_ask + gives - asks
        self.ask_ring[week % ASK_MEMORY_WEEKS] = asks
        np.minimum.at(self.first_ts, events.pair, events.ts)


# Columns of _PairRates.activity: (type, direction, follows the activity regime). Asks
# ignore the regime: owners ask when they need something, warm tie or not.
_ACTIVITY_COLUMNS = (
    (TOUCH, OUT, True), (MESSAGE, OUT, True), (MEETING, OUT, True), (GIVE, OUT, True),
    (ASK, OUT, False), (TOUCH, IN, True), (MESSAGE, IN, True), (MEETING, IN, True),
)
_COLUMN_KINDS = np.array([EVENT_TYPE_CODES[kind] for kind, _, _ in _ACTIVITY_COLUMNS])
_COLUMN_DIRECTIONS = np.array([DIRECTION_CODES[d] for _, d, _ in _ACTIVITY_COLUMNS])
_FOLLOWS_REGIME = np.array([follows for _, _, follows in _ACTIVITY_COLUMNS])


def _draw_activity(rng: np.random.Generator, rates: _PairRates, state: _TieState,
                   alive: np.ndarray, t0: int, t1: int) -> _Events:
    """Touches, messages, meetings, gives and asks of one week.

    One Poisson count per pair, then a column per event in proportion to the
    column rates: the same law as a Poisson per (pair, column), with an eighth of
    the draws.
    """
    fraction = (t1 - t0) / WEEK_SECONDS
    regime = np.where(state.active, 1.0, _DORMANT_FACTOR) * alive * fraction
    need = alive * fraction
    total = (regime * (rates.activity @ _FOLLOWS_REGIME)
             + need * (rates.activity @ ~_FOLLOWS_REGIME))
    pair = np.repeat(np.arange(len(total)), rng.poisson(total))
    scale = np.where(_FOLLOWS_REGIME, regime[pair, None], need[pair, None])
    cum = np.cumsum(rates.activity[pair] * scale, axis=1)
    column = (rng.random((len(pair), 1)) * cum[:, -1:] >= cum).sum(axis=1)
    column = np.minimum(column, len(_ACTIVITY_COLUMNS) - 1)
    ts = t0 + np.floor(rng.random(len(pair)) * (t1 - t0))
    return _Events.of(pair, ts, _COLUMN_KINDS[column], _COLUMN_DIRECTIONS[column])


def _draw_replies(rng: np.random.Generator, events: _Events, reply_p: np.ndarray) -> _Events:
    """Each outbound event is answered within a week with the contact's reply probability."""
    outbound = events.take(events.direction == DIRECTION_CODES[OUT])
    answered = outbound.take(rng.random(len(outbound.pair)) < reply_p[outbound.pair])
    n = len(answered.pair)
    delay = np.minimum(rng.exponential(_REPLY_MEAN_DAYS, size=n), _REPLY_MAX_DAYS) * SECONDS_PER_DAY
    kinds = np.array([EVENT_TYPE_CODES[t] for t in _REPLY_TYPES])
    kind = kinds[rng.choice(len(kinds), size=n, p=_REPLY_TYPE_P)]
    return _Events.of(answered.pair, answered.ts + np.floor(delay), kind,
                      np.full(n, DIRECTION_CODES[IN]))


def _draw_intros(rng: np.random.Generator, hazard: np.ndarray, referral_share: np.ndarray,
                 t0: int, t1: int) -> _Events:
    """Intros and referrals from the hazard; some are later marked not useful."""
    counts = rng.poisson(hazard * (t1 - t0) / WEEK_SECONDS)
    pair = np.repeat(np.arange(len(hazard)), counts)
    n = len(pair)
    ts = t0 + np.floor(rng.random(n) * (t1 - t0))
    kind = np.where(rng.random(n) < referral_share[pair], EVENT_TYPE_CODES[REFERRAL],
                    EVENT_TYPE_CODES[INTRO])
    u = rng.random(n)
    useful = np.select([u < USEFUL_FALSE_P, u < USEFUL_FALSE_P + USEFUL_TRUE_P],
                       [_USEFUL_FALSE, _USEFUL_TRUE], _USEFUL_UNKNOWN)
    return _Events.of(pair, ts, kind, np.full(n, DIRECTION_CODES[IN]), useful)


def _simulate_chunk(rng: np.random.Generator, rates: _PairRates,
                    clock: _Clock) -> tuple[_Events, np.ndarray, np.ndarray]:
    """Events, weekly hazards (pairs × weeks) and first-event times for a slice of pairs."""
    state = _TieState.start(rng, rates)
    hazards = np.zeros((len(rates), clock.n_weeks))
    done: list[_Events] = []
    pending = _Events.empty()
    for week in range(clock.n_weeks):
        if week and week % WEEKS_PER_REGIME == 0:
            state.switch_regimes(rng, rates)
        t0, t1 = clock.week(week)
        alive = rates.entry_week <= week
        hazards[:, week] = np.exp(rates.static_log_hazard + state.dynamic_log_hazard()) * alive
        activity = _draw_activity(rng, rates, state, alive, t0, t1)
        replies = _draw_replies(rng, activity, rates.reply_p)
        intros = _draw_intros(rng, hazards[:, week], rates.referral_share, t0, t1)
        batch = _Events.concat([pending, activity, replies, intros])
        batch = batch.take(batch.ts < clock.end)
        now = batch.ts < t1
        state.absorb(batch.take(now), week, t0, t1)
        done.append(batch.take(now))
        pending = batch.take(~now)
    return _Events.concat(done), hazards, state.first_ts


def _cumulative_hazard(hazards: np.ndarray, clock: _Clock, at: int) -> np.ndarray:
    """∫ λ from the start to ``at``; λ is constant within each week."""
    position = (at - clock.start) / WEEK_SECONDS
    week = min(int(position), hazards.shape[1] - 1)
    return hazards[:, :week].sum(axis=1) + hazards[:, week] * (position - week)


_Oracle = tuple[np.ndarray, np.ndarray, np.ndarray]  # pair, cut (epoch s), probability


def _chunk_oracle(hazards: np.ndarray, first_ts: np.ndarray, clock: _Clock,
                  cuts: np.ndarray) -> _Oracle:
    """P(label) at each cut for the pairs with an event strictly before it (the candidates)."""
    horizon = DEFAULT_HORIZON_DAYS * SECONDS_PER_DAY
    pairs, times, probs = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0)]
    for cut in cuts:
        mass = (_cumulative_hazard(hazards, clock, cut + horizon)
                - _cumulative_hazard(hazards, clock, cut))
        pair = np.flatnonzero(first_ts < cut)
        pairs.append(pair)
        times.append(np.full(len(pair), cut, dtype=np.int64))
        probs.append(-np.expm1(-(1.0 - USEFUL_FALSE_P) * mass[pair]))
    return np.concatenate(pairs), np.concatenate(times), np.concatenate(probs)


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich bar on a terminal only, so logs and pipes stay clean."""
    if not (enabled and sys.stdout.isatty()):
        yield lambda done: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating owners", total=total)
        yield lambda done: bar.advance(task, done)


def _ids(prefix: str, n: int) -> pd.Series:
    """Zero-padded so text order equals numeric order."""
    width = len(str(max(n - 1, 0)))
    return prefix + pd.Series(np.arange(n)).astype(str).str.zfill(width)


def _lookup(vocabulary: pd.Series | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """Text column from integer codes into a vocabulary (ids, type names, companies)."""
    return pd.Series(pd.array(vocabulary, dtype="str").take(codes))


def _joined(mask: np.ndarray, names: tuple[str, ...]) -> list[str]:
    return [LIST_SEPARATOR.join(names[j] for j in np.flatnonzero(row)) for row in mask]


def _owners_frame(owners: _Owners, owner_ids: pd.Series) -> pd.DataFrame:
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


def _contacts_frame(rng: np.random.Generator, contacts: _Contacts, owner_ids: pd.Series,
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


def _events_frame(events: _Events, pair_owner: np.ndarray, owner_ids: pd.Series,
                  contact_ids: pd.Series) -> pd.DataFrame:
    """Sorted by owner, then time; ties keep the (seeded) generation order."""
    since = events.ts - events.ts.min(initial=0)
    key = (pair_owner[events.pair].astype(np.int64) << 32) | since
    ev = events.take(np.argsort(key, kind="stable"))
    useful = pd.arrays.BooleanArray(ev.useful == _USEFUL_TRUE, ev.useful == _USEFUL_UNKNOWN)
    return pd.DataFrame({
        EVENT_ID: _ids("e", len(ev.pair)),
        OWNER_ID: _lookup(owner_ids, pair_owner[ev.pair]),
        CONTACT_ID: _lookup(contact_ids, ev.pair),
        OCCURRED_AT: _utc(ev.ts),
        TYPE: _lookup(EVENT_TYPES, ev.kind),
        DIRECTION: _lookup(DIRECTIONS, ev.direction),
        USEFUL: useful,
    })


def _oracle_frame(pair: np.ndarray, cut: np.ndarray, probability: np.ndarray,
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


def _run_chunks(seqs: list[np.random.SeedSequence], rates: _PairRates, pair_owner: np.ndarray,
                clock: _Clock, cuts: np.ndarray, progress: bool) -> tuple[_Events, _Oracle]:
    """Simulate owners in fixed-size chunks; every chunk has its own random stream."""
    bounds = np.searchsorted(pair_owner, np.arange(len(seqs) + 1) * OWNERS_PER_CHUNK)
    events, oracle = [], []
    with _progress_bar(progress, int(pair_owner[-1]) + 1) as advance:
        for seq, lo, hi in zip(seqs, bounds[:-1], bounds[1:], strict=True):
            chunk_events, hazards, first_ts = _simulate_chunk(
                np.random.default_rng(seq), rates[lo:hi], clock)
            pair, cut, prob = _chunk_oracle(hazards, first_ts, clock, cuts)
            events.append(chunk_events.shifted(lo))
            oracle.append((pair + lo, cut, prob))
            advance(int(pair_owner[hi - 1] - pair_owner[lo]) + 1)
    pair, cut, prob = (np.concatenate(part) for part in zip(*oracle, strict=True))
    return _Events.concat(events), (pair, cut, prob)


def simulate_network(n_owners: int, seed: int, months: int = 12, start: str = "2025-01-01",
                     progress: bool = False) -> SimulatedNetwork:
    """Simulate ``n_owners`` owners over ``months`` 30-day months; same seed, same network."""
    if n_owners < 1 or months < 1:
        raise ValueError(f"need n_owners >= 1 and months >= 1, got {n_owners} and {months}")
    clock = _simulation_span(start, months)
    n_chunks = -(-n_owners // OWNERS_PER_CHUNK)
    profile_seq, decor_seq, *chunk_seqs = np.random.SeedSequence(seed).spawn(2 + n_chunks)
    rng = np.random.default_rng(profile_seq)
    owners = _draw_owners(rng, n_owners)
    contacts = _draw_contacts(rng, owners, clock.n_weeks)
    rates = _pair_rates(rng, owners, contacts)
    cuts = cut_times(clock.start, clock.end, DEFAULT_CUT_EVERY_DAYS, DEFAULT_HORIZON_DAYS)
    events, (pair, cut, prob) = _run_chunks(chunk_seqs, rates, contacts.owner, clock, cuts,
                                            progress)
    owner_ids, contact_ids = _ids("o", n_owners), _ids("c", len(contacts.owner))
    return SimulatedNetwork(
        owners=_owners_frame(owners, owner_ids),
        contacts=_contacts_frame(np.random.default_rng(decor_seq), contacts, owner_ids,
                                 contact_ids),
        events=_events_frame(events, contacts.owner, owner_ids, contact_ids),
        oracle=_oracle_frame(pair, cut, prob, contacts.owner, owner_ids, contact_ids),
    )


# --- CSV rendering ----------------------------------------------------------------------
# Rendering is column-wise NumPy on fixed-width bytes: values stay NUL-padded until
# a whole block of rows is joined, then the NULs (never part of CSV text) are dropped.
# Blocks keep every temporary small enough for the allocator to recycle: touching
# fresh memory is what costs most here.
_ROWS_PER_BLOCK = 200_000
_SAMPLE_ROWS = 10_000
_NEEDS_QUOTES = np.zeros(256, dtype=bool)
_NEEDS_QUOTES[list(b',"\n\r')] = True


def _side_by_side(parts: list[np.ndarray | bytes], n: int) -> np.ndarray:
    """Row-wise concatenation of fixed-width byte columns (bytes scalars repeat on every row)."""
    widths = [len(p) if isinstance(p, bytes) else p.dtype.itemsize for p in parts]
    rows = np.empty(n, dtype=[(f"f{i}", f"V{w}") for i, w in enumerate(widths) if w])
    for i, (part, width) in enumerate(zip(parts, widths, strict=True)):
        if width:
            rows[f"f{i}"] = np.void(part) if isinstance(part, bytes) else part.view(f"V{width}")
    return rows.view(f"S{rows.dtype.itemsize}") if len(rows.dtype) else np.full(n, b"")


def _byte_matrix(text: np.ndarray) -> np.ndarray:
    """Fixed-width bytes as a (rows, width) uint8 matrix, NUL-padded."""
    text = np.ascontiguousarray(text, dtype=f"S{max(text.dtype.itemsize, 1)}")
    return text.view(np.uint8).reshape(len(text), text.dtype.itemsize)


def _quoted(text: np.ndarray) -> np.ndarray:
    """RFC 4180 quoting, only where a value needs it."""
    needs = _NEEDS_QUOTES[_byte_matrix(text)].any(axis=1)
    if not needs.any():
        return text
    escaped = np.strings.add(np.strings.add(b'"', np.strings.replace(text, b'"', b'""')), b'"')
    return np.where(needs, escaped, text)


@cache
def _times_of_day() -> np.ndarray:
    """"THH:MM:SS+00:00" for each of the 86,400 seconds of a day, formatted once."""
    clock = np.datetime_as_string(np.arange(SECONDS_PER_DAY).astype("datetime64[s]"), unit="s")
    return np.strings.add(np.strings.slice(clock.astype("S19"), 10, None), b"+00:00")


def _iso_utc(seconds: np.ndarray) -> np.ndarray:
    """ISO 8601 with a +00:00 offset from a few hundred formatted days and the time table."""
    day, second = np.divmod(seconds, SECONDS_PER_DAY)
    first = int(day.min(initial=0))
    span = np.arange(first, int(day.max(initial=first)) + 1).astype("datetime64[D]")
    days = np.datetime_as_string(span).astype("S10")
    return _side_by_side([days[day - first], _times_of_day()[second]], len(seconds))


def _fixed_point(values: np.ndarray, decimals: int = 6) -> np.ndarray:
    """Six decimals without per-value Python formatting (probabilities, mostly)."""
    scaled = np.rint(np.abs(values) * 10**decimals).astype(np.int64)
    whole, frac = np.divmod(scaled, 10**decimals)
    digits = _byte_matrix((frac + 10**decimals).astype(f"S{decimals + 1}"))[:, 1:]
    digits = np.ascontiguousarray(digits).view(f"S{decimals}").ravel()
    sign = np.where(values < 0, b"-", b"\x00")
    return _side_by_side([sign, whole.astype(bytes), b".", digits], len(values))


def _utf8(text: np.ndarray) -> np.ndarray:
    """ASCII takes numpy's C cast; only text with other characters pays for real encoding."""
    try:
        return text.astype(bytes)
    except UnicodeEncodeError:
        return np.array([value.encode("utf-8") for value in text], dtype=bytes)


def _text_bytes(series: pd.Series) -> np.ndarray:
    """Quoted UTF-8; repetitive text (ids, type names) is rendered once per distinct value."""
    sample = series.iloc[:_SAMPLE_ROWS]
    if sample.nunique() > len(sample) // 2:
        return _quoted(_utf8(series.to_numpy(dtype=object)))
    codes, distinct = pd.factorize(series)
    return _quoted(_utf8(np.asarray(distinct, dtype=object)))[codes]


def _column_text(series: pd.Series) -> np.ndarray:
    """One column as CSV bytes: unknown -> "", booleans lowercase, timestamps ISO UTC."""
    known = series.notna().to_numpy()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        seconds = series.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
        text = _iso_utc(np.where(known, seconds, 0))
    elif pd.api.types.is_bool_dtype(series.dtype):
        text = np.where(series.to_numpy(dtype=bool, na_value=False), b"true", b"false")
    elif pd.api.types.is_integer_dtype(series.dtype):
        text = series.to_numpy(dtype=np.int64, na_value=0).astype(bytes)
    elif pd.api.types.is_float_dtype(series.dtype):
        text = _fixed_point(series.to_numpy(dtype=np.float64, na_value=0.0))
    else:
        text = _text_bytes(series.fillna(""))
    return text if known.all() else np.where(known, text, b"")


def _csv_rows(frame: pd.DataFrame) -> bytes:
    parts: list[np.ndarray | bytes] = []
    for column in frame.columns:
        parts += [_column_text(frame[column]), b","]
    parts[-1] = b"\n"
    padded = _side_by_side(parts, len(frame)).view(np.uint8)
    return padded[padded != 0].tobytes()


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with path.open("wb") as out:
        out.write((",".join(map(str, frame.columns)) + "\n").encode())
        for start in range(0, len(frame), _ROWS_PER_BLOCK):
            out.write(_csv_rows(frame.iloc[start:start + _ROWS_PER_BLOCK]))


def write_network(network: SimulatedNetwork, out_dir: Path) -> list[Path]:
    """Write owners.csv, contacts.csv, events.csv and oracle.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in ((OWNERS_CSV, network.owners), (CONTACTS_CSV, network.contacts),
                        (EVENTS_CSV, network.events), (ORACLE_CSV, network.oracle)):
        paths.append(out_dir / name)
        _write_csv(paths[-1], frame)
    return paths
