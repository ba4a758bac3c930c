"""Everyday ties: touches, messages, meetings, gives, asks and replies, and what a tie remembers."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from introrank.model.constants import (
    ASK,
    BUSINESS_GROWTH,
    CAREER_SUPPORT,
    DIRECTION_CODES,
    EVENT_TYPE_CODES,
    GIVE,
    IN,
    JOB_SEARCH,
    MEETING,
    MESSAGE,
    OUT,
    SKILL_BUILDING,
    TOUCH,
)
from introrank.training.cuts import SECONDS_PER_DAY
from introrank.training.simulate.clock import WEEK_SECONDS
from introrank.training.simulate.events import Events
from introrank.training.simulate.outcomes import (
    ASK_FATIGUE_COEF,
    BALANCE_COEF,
    WARMTH_COEF,
    WARMTH_HALF_LIFE_DAYS,
    static_log_hazard,
)
from introrank.training.simulate.population import Contacts, Owners, by_goal

ASK_MEMORY_WEEKS = 13  # ask fatigue looks back ~90 days
_ASK_RATE_BY_GOAL = by_goal({JOB_SEARCH: 0.035, SKILL_BUILDING: 0.018, BUSINESS_GROWTH: 0.028,
                              CAREER_SUPPORT: 0.01})  # asks per pair-week, before multipliers
_REFERRAL_SHARE = by_goal({JOB_SEARCH: 0.6, SKILL_BUILDING: 0.15, BUSINESS_GROWTH: 0.5,
                            CAREER_SUPPORT: 0.2})

# --- activity -------------------------------------------------------------------------
_ACTIVE_RATE = 0.16  # owner touches+messages+meetings per week, tie strength 0, active
_OUTBOUND_SHARES = {TOUCH: 0.5, MESSAGE: 0.35, MEETING: 0.15}
_GIVE_RATE = 0.03  # per pair-week when active, before the owner's and pair's multipliers
_INBOUND_SHARE = 0.35  # unsolicited contact events relative to the owner's outbound
_DORMANT_FACTOR = 0.08
_REPLY_TYPES, _REPLY_TYPE_P = (MESSAGE, TOUCH, MEETING), (0.6, 0.3, 0.1)
_REPLY_MEAN_DAYS, _REPLY_MAX_DAYS = 1.5, 6.9


@dataclass(frozen=True)
class PairRates:
    """Everything the weekly loop needs per pair, precomputed so chunks just slice it."""

    activity: np.ndarray  # (pairs, columns of _ACTIVITY_COLUMNS): events per active week
    reply_p: np.ndarray
    wake_p: np.ndarray
    sleep_p: np.ndarray
    referral_share: np.ndarray
    static_log_hazard: np.ndarray
    entry_week: np.ndarray

    def __getitem__(self, rows: slice) -> PairRates:
        return PairRates(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def __len__(self) -> int:
        return len(self.reply_p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def pair_rates(rng: np.random.Generator, owners: Owners, contacts: Contacts) -> PairRates:
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
    return PairRates(
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
        static_log_hazard=static_log_hazard(rng, owners, contacts),
        entry_week=contacts.entry_week,
    )


@dataclass
class TieState:
    """What the hazard remembers per pair; updated in place once per week."""

    warmth: np.ndarray
    give_minus_ask: np.ndarray
    ask_ring: np.ndarray  # (ASK_MEMORY_WEEKS, pairs): asks per past week
    active: np.ndarray
    first_ts: np.ndarray

    @classmethod
    def start(cls, rng: np.random.Generator, rates: PairRates) -> TieState:
        n = len(rates)
        stationary = rates.wake_p / (rates.wake_p + rates.sleep_p)
        return cls(np.zeros(n), np.zeros(n), np.zeros((ASK_MEMORY_WEEKS, n)),
                   rng.random(n) < stationary, np.full(n, np.iinfo(np.int64).max))

    def dynamic_log_hazard(self) -> np.ndarray:
        return (WARMTH_COEF * np.log1p(self.warmth)
                + BALANCE_COEF * np.tanh(self.give_minus_ask / 3.0)
                - ASK_FATIGUE_COEF * self.ask_ring.sum(axis=0))

    def switch_regimes(self, rng: np.random.Generator, rates: PairRates) -> None:
        u = rng.random(len(self.active))
        self.active = np.where(self.active, u >= rates.sleep_p, u < rates.wake_p)

    def absorb(self, events: Events, week: int, t0: int, t1: int) -> None:
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


# Columns of PairRates.activity: (type, direction, follows the activity regime). Asks
# ignore the regime: owners ask when they need something, warm tie or not.
_ACTIVITY_COLUMNS = (
    (TOUCH, OUT, True), (MESSAGE, OUT, True), (MEETING, OUT, True), (GIVE, OUT, True),
    (ASK, OUT, False), (TOUCH, IN, True), (MESSAGE, IN, True), (MEETING, IN, True),
)
_COLUMN_KINDS = np.array([EVENT_TYPE_CODES[kind] for kind, _, _ in _ACTIVITY_COLUMNS])
_COLUMN_DIRECTIONS = np.array([DIRECTION_CODES[d] for _, d, _ in _ACTIVITY_COLUMNS])
_FOLLOWS_REGIME = np.array([follows for _, _, follows in _ACTIVITY_COLUMNS])


def draw_activity(rng: np.random.Generator, rates: PairRates, state: TieState,
                   alive: np.ndarray, t0: int, t1: int) -> Events:
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
    return Events.of(pair, ts, _COLUMN_KINDS[column], _COLUMN_DIRECTIONS[column])


def draw_replies(rng: np.random.Generator, events: Events, reply_p: np.ndarray) -> Events:
    """Each outbound event is answered within a week with the contact's reply probability."""
    outbound = events.take(events.direction == DIRECTION_CODES[OUT])
    answered = outbound.take(rng.random(len(outbound.pair)) < reply_p[outbound.pair])
    n = len(answered.pair)
    delay = np.minimum(rng.exponential(_REPLY_MEAN_DAYS, size=n), _REPLY_MAX_DAYS) * SECONDS_PER_DAY
    kinds = np.array([EVENT_TYPE_CODES[t] for t in _REPLY_TYPES])
    kind = kinds[rng.choice(len(kinds), size=n, p=_REPLY_TYPE_P)]
    return Events.of(answered.pair, answered.ts + np.floor(delay), kind,
                      np.full(n, DIRECTION_CODES[IN]))
