"""Owners and their contacts: profiles, targets, companies and the latent tie traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from introrank.model.constants import (
    BUSINESS_GROWTH,
    CAREER_SUPPORT,
    GOALS,
    JOB_SEARCH,
    MAX_STAGE,
    MIN_STAGE,
    SKILL_BUILDING,
)

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

# --- owners (rows of goal-indexed tables follow constants.GOALS) ---------------------
_STAGE_WEIGHTS = (0.08, 0.20, 0.22, 0.20, 0.14, 0.10, 0.06)
_GOAL_WEIGHTS_BY_STAGE = np.array([  # columns: job_search, skill_building, business_growth, support
    (0.45, 0.40, 0.05, 0.10), (0.50, 0.30, 0.08, 0.12), (0.35, 0.25, 0.22, 0.18),
    (0.28, 0.17, 0.30, 0.25), (0.15, 0.12, 0.38, 0.35), (0.10, 0.08, 0.40, 0.42),
    (0.06, 0.06, 0.43, 0.45),
])


def by_goal(table: dict[str, float]) -> np.ndarray:
    return np.array([table[g] for g in GOALS])


_TARGET_OWN_INDUSTRY_P = by_goal({JOB_SEARCH: 0.7, SKILL_BUILDING: 0.3, BUSINESS_GROWTH: 0.4,
                                   CAREER_SUPPORT: 0.1})
_TARGET_OTHER_INDUSTRY_P = by_goal({JOB_SEARCH: 0.15, SKILL_BUILDING: 0.08,
                                     BUSINESS_GROWTH: 0.25, CAREER_SUPPORT: 0.02})
_TARGET_COMPANY_P = by_goal({JOB_SEARCH: 0.16, SKILL_BUILDING: 0.04, BUSINESS_GROWTH: 0.12,
                              CAREER_SUPPORT: 0.0})  # per company of a targeted industry

# --- contacts -------------------------------------------------------------------------
CONTACTS_MEDIAN, CONTACTS_SIGMA = 150, 0.9
MIN_CONTACTS, MAX_CONTACTS = 50, 2000
_FROM_TARGET_COMPANY_P, _FROM_OWN_INDUSTRY_P, _FROM_TARGET_INDUSTRY_P = 0.07, 0.35, 0.15
_STAGE_OFFSET_MEAN, _STAGE_OFFSET_SD = 0.6, 1.7
_PRESENT_AT_START_P = 0.75  # the rest of the ties form during the simulated months


@dataclass(frozen=True)
class Owners:
    stage: np.ndarray
    industry: np.ndarray
    goal: np.ndarray
    target_industry: np.ndarray  # bool (owners, industries)
    target_company: np.ndarray  # bool (owners, companies)


@dataclass(frozen=True)
class Contacts:
    owner: np.ndarray
    company: np.ndarray
    stage: np.ndarray
    strength: np.ndarray  # latent tie strength, standard normal
    mutual: np.ndarray
    helpfulness: np.ndarray  # standard normal
    reach: np.ndarray  # standard normal
    entry_week: np.ndarray


def sample_contact_counts(rng: np.random.Generator, n_owners: int) -> np.ndarray:
    """Contacts per owner: a clipped lognormal, because real networks are heavy-tailed."""
    raw = rng.lognormal(np.log(CONTACTS_MEDIAN), CONTACTS_SIGMA, size=n_owners)
    return np.clip(np.rint(raw), MIN_CONTACTS, MAX_CONTACTS).astype(np.int64)


def draw_owners(rng: np.random.Generator, n: int) -> Owners:
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
    return Owners(stage, industry, goal, target_industry, target_company)


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


def _draw_companies(rng: np.random.Generator, owners: Owners, owner: np.ndarray) -> np.ndarray:
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


def draw_contacts(rng: np.random.Generator, owners: Owners, n_weeks: int) -> Contacts:
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
    return Contacts(owner, company, stage, strength, mutual, helpfulness, reach, entry_week)
