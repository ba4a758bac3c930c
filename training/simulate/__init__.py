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
5. Intros and referrals from a known weekly hazard per pair (``outcomes.static_log_hazard``
   plus ``activity.TieState.dynamic_log_hazard``; coefficients are the constants below):

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

Modules, in the order of the story: ``population`` (1-3), ``activity`` (4: the
weekly events and what a tie remembers), ``outcomes`` (5: the hazard and the
intros it draws), ``oracle`` (6), ``run`` (the chunked weekly loop and
``simulate_network``), ``frames`` (codes -> typed frames) and ``writer`` (the CSVs).
"""

from introrank.training.simulate.frames import SimulatedNetwork
from introrank.training.simulate.outcomes import (
    ASK_FATIGUE_COEF,
    BALANCE_COEF,
    HAZARD_BASE,
    HELPFULNESS_SD,
    OWNER_HAZARD_SD,
    REACH_SD,
    USEFUL_FALSE_P,
    USEFUL_TRUE_P,
    WARMTH_COEF,
    WARMTH_HALF_LIFE_DAYS,
    stage_gap_effect,
    tie_effect,
)
from introrank.training.simulate.population import (
    COMPANIES,
    COMPANY_INDUSTRY,
    CONTACTS_MEDIAN,
    CONTACTS_SIGMA,
    INDUSTRIES,
    MAX_CONTACTS,
    MIN_CONTACTS,
    sample_contact_counts,
)
from introrank.training.simulate.run import simulate_network
from introrank.training.simulate.writer import write_network

__all__ = [
    "ASK_FATIGUE_COEF",
    "BALANCE_COEF",
    "COMPANIES",
    "COMPANY_INDUSTRY",
    "CONTACTS_MEDIAN",
    "CONTACTS_SIGMA",
    "HAZARD_BASE",
    "HELPFULNESS_SD",
    "INDUSTRIES",
    "MAX_CONTACTS",
    "MIN_CONTACTS",
    "OWNER_HAZARD_SD",
    "REACH_SD",
    "USEFUL_FALSE_P",
    "USEFUL_TRUE_P",
    "WARMTH_COEF",
    "WARMTH_HALF_LIFE_DAYS",
    "SimulatedNetwork",
    "sample_contact_counts",
    "simulate_network",
    "stage_gap_effect",
    "tie_effect",
    "write_network",
]
