"""Intros and referrals: the known weekly hazard per pair, and the events drawn from it."""

from __future__ import annotations

import numpy as np

from introrank.model.constants import (
    BUSINESS_GROWTH,
    CAREER_SUPPORT,
    DIRECTION_CODES,
    EVENT_TYPE_CODES,
    IN,
    INTRO,
    JOB_SEARCH,
    REFERRAL,
    SKILL_BUILDING,
)
from introrank.training.simulate.clock import WEEK_SECONDS
from introrank.training.simulate.events import Events
from introrank.training.simulate.population import COMPANY_INDUSTRY, Contacts, Owners, by_goal

# --- the intro / referral hazard ------------------------------------------------------
HAZARD_BASE = -7.4
WARMTH_COEF, BALANCE_COEF, ASK_FATIGUE_COEF = 0.45, 0.8, 0.3
WARMTH_HALF_LIFE_DAYS = 30
HELPFULNESS_SD, REACH_SD, OWNER_HAZARD_SD = 0.3, 0.25, 0.3
# Stage gap (contact minus owner), clipped to -1..5: low at or below, best 2-3 ahead.
_STAGE_GAP_EFFECT = np.array([-2.2, -1.45, 0.2, 1.45, 1.45, 0.4, -0.4])
_STAGE_COEF = by_goal({JOB_SEARCH: 0.8, SKILL_BUILDING: 1.2, BUSINESS_GROWTH: 0.7,
                        CAREER_SUPPORT: 1.2})
_INDUSTRY_MATCH_COEF = by_goal({JOB_SEARCH: 0.9, SKILL_BUILDING: 0.7, BUSINESS_GROWTH: 1.3,
                                 CAREER_SUPPORT: 0.5})
_COMPANY_MATCH_COEF = by_goal({JOB_SEARCH: 2.0, SKILL_BUILDING: 0.5, BUSINESS_GROWTH: 1.6,
                                CAREER_SUPPORT: 0.4})
_WEAK_TIES_TRANSMIT = by_goal({JOB_SEARCH: 1.0, SKILL_BUILDING: 0.0, BUSINESS_GROWTH: 1.0,
                                CAREER_SUPPORT: 0.0}).astype(bool)
_TIE_PEAK = np.log1p(3.0)  # a few mutual connections: a moderately weak tie
USEFUL_FALSE_P, USEFUL_TRUE_P = 0.10, 0.40
USEFUL_UNKNOWN, USEFUL_FALSE, USEFUL_TRUE = 0, 1, 2


def stage_gap_effect(gap: np.ndarray) -> np.ndarray:
    """Log-hazard effect of the contact being ``gap`` stages ahead of the owner."""
    return _STAGE_GAP_EFFECT[np.clip(gap, -1, 5) + 1]


def tie_effect(mutual: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Weak ties carry jobs and deals (inverted U); strong ties carry learning and support."""
    x = np.log1p(mutual)
    inverted_u = 1.1 - 0.55 * (x - _TIE_PEAK) ** 2
    increasing = 0.7 * (x - 1.8)
    return np.where(_WEAK_TIES_TRANSMIT[goal], inverted_u, increasing)


def _goal_relevance(owners: Owners, contacts: Contacts) -> np.ndarray:
    """Industry match (targets, else the owner's own industry) and company match, by goal."""
    o, goal = contacts.owner, owners.goal[contacts.owner]
    industry = COMPANY_INDUSTRY[contacts.company]
    has_targets = np.asarray(owners.target_industry.any(axis=1))[o]
    industry_match = np.where(has_targets, owners.target_industry[o, industry],
                              owners.industry[o] == industry)
    company_match = owners.target_company[o, contacts.company]
    return _INDUSTRY_MATCH_COEF[goal] * industry_match + _COMPANY_MATCH_COEF[goal] * company_match


def static_log_hazard(rng: np.random.Generator, owners: Owners,
                       contacts: Contacts) -> np.ndarray:
    """The part of log λ fixed for the whole simulation (profiles and latents)."""
    goal = owners.goal[contacts.owner]
    gap = contacts.stage - owners.stage[contacts.owner]
    owner_effect = rng.normal(0.0, OWNER_HAZARD_SD, size=len(owners.stage))[contacts.owner]
    return (HAZARD_BASE + owner_effect + _STAGE_COEF[goal] * stage_gap_effect(gap)
            + _goal_relevance(owners, contacts) + tie_effect(contacts.mutual, goal)
            + HELPFULNESS_SD * contacts.helpfulness + REACH_SD * contacts.reach)


def draw_intros(rng: np.random.Generator, hazard: np.ndarray, referral_share: np.ndarray,
                 t0: int, t1: int) -> Events:
    """Intros and referrals from the hazard; some are later marked not useful."""
    counts = rng.poisson(hazard * (t1 - t0) / WEEK_SECONDS)
    pair = np.repeat(np.arange(len(hazard)), counts)
    n = len(pair)
    ts = t0 + np.floor(rng.random(n) * (t1 - t0))
    kind = np.where(rng.random(n) < referral_share[pair], EVENT_TYPE_CODES[REFERRAL],
                    EVENT_TYPE_CODES[INTRO])
    u = rng.random(n)
    useful = np.select([u < USEFUL_FALSE_P, u < USEFUL_FALSE_P + USEFUL_TRUE_P],
                       [USEFUL_FALSE, USEFUL_TRUE], USEFUL_UNKNOWN)
    return Events.of(pair, ts, kind, np.full(n, DIRECTION_CODES[IN]), useful)
