"""The oracle: the true probability of a useful intro in the horizon after each cut."""

from __future__ import annotations

import numpy as np

from introrank.model.constants import DEFAULT_HORIZON_DAYS
from introrank.training.cuts import SECONDS_PER_DAY
from introrank.training.simulate.clock import WEEK_SECONDS, Clock
from introrank.training.simulate.outcomes import USEFUL_FALSE_P


def _cumulative_hazard(hazards: np.ndarray, clock: Clock, at: int) -> np.ndarray:
    """∫ λ from the start to ``at``; λ is constant within each week."""
    position = (at - clock.start) / WEEK_SECONDS
    week = min(int(position), hazards.shape[1] - 1)
    return hazards[:, :week].sum(axis=1) + hazards[:, week] * (position - week)


Oracle = tuple[np.ndarray, np.ndarray, np.ndarray]  # pair, cut (epoch s), probability


def chunk_oracle(hazards: np.ndarray, first_ts: np.ndarray, clock: Clock,
                  cuts: np.ndarray) -> Oracle:
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
