"""Snapshot cut times shared by the simulator's oracle and the trainer.

Both sides must pick the very same cuts, or the oracle's probabilities would
describe snapshots the trainer never builds; a grid anchored at the Unix epoch
(not at the first event) makes the choice independent of who computes it.
"""

from __future__ import annotations

import math

import numpy as np

SECONDS_PER_DAY = 86400


def cut_times(
    first_ts: float,
    last_ts: float,
    every_days: int = 30,
    horizon_days: int = 90,
    min_history_days: int = 30,
) -> np.ndarray:
    """Epoch-second cut times on a grid aligned to multiples of every_days since 1970-01-01.

    Only cuts with t >= first_ts + min_history_days (enough history to have
    features) and t + horizon <= last_ts (a fully observed label window) are kept,
    so no snapshot has a truncated label. Returns int64 seconds, ascending.
    """
    if every_days <= 0:
        raise ValueError(f"every_days must be positive, got {every_days}")
    step = every_days * SECONDS_PER_DAY
    earliest = first_ts + min_history_days * SECONDS_PER_DAY
    latest = last_ts - horizon_days * SECONDS_PER_DAY
    first_k, last_k = math.ceil(earliest / step), math.floor(latest / step)
    if last_k < first_k:
        return np.empty(0, dtype=np.int64)
    return np.arange(first_k, last_k + 1, dtype=np.int64) * step
