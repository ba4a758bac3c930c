"""The champion gate: promote a tenant's new model only on evidence from that tenant's newest cuts.

The candidate and the serving champion are scored on the same held-out test
queries (one query = one owner at one cut, counted only when it holds a
positive). The gate refuses to decide on thin or undefined evidence: a NaN
metric, or fewer queries with a positive than ``min_queries``. Otherwise the
candidate wins when its mean NDCG@10 is strictly higher. The paired bootstrap
interval of the per-query difference is reported beside the decision, so a win
inside the noise is visible as one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from introrank.model.json_safe import json_safe

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class GateVerdict:
    promote: bool
    reason: str
    positive_queries: int
    new_ndcg: float | None
    champion_ndcg: float | None
    difference_low: float | None = None  # 95% paired bootstrap interval of new - champion
    difference_high: float | None = None

    def to_dict(self) -> dict[str, object]:
        return json_safe(asdict(self))


def paired_bootstrap(new: np.ndarray, old: np.ndarray, samples: int = BOOTSTRAP_SAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of mean(new - old), resampling queries with replacement."""
    diff = np.asarray(new, dtype=float) - np.asarray(old, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def judge(new: np.ndarray, old: np.ndarray | None, min_queries: int) -> GateVerdict:
    """Decide from per-query NDCG@10 of the candidate and (if any) the champion, on the same queries."""
    new = np.asarray(new, dtype=float)
    count = int(len(new))
    new_mean = float(new.mean()) if count else float("nan")
    old_mean = float(np.asarray(old, dtype=float).mean()) if old is not None and count else None
    if count == 0 or math.isnan(new_mean):
        return GateVerdict(False, "not promoted: no test query holds a positive, so NDCG@10 is undefined",
                           count, None, old_mean)
    if count < min_queries:
        return GateVerdict(False, f"not promoted: the test cuts hold {count} queries with a positive, fewer than "
                                  f"the {min_queries} the gate needs (INTRORANK_GATE_MIN_QUERIES)",
                           count, new_mean, old_mean)
    if old is None:
        return GateVerdict(True, f"promoted: no champion before; NDCG@10 {new_mean:.4f} on {count} queries",
                           count, new_mean, None)
    if old_mean is None or math.isnan(old_mean):
        return GateVerdict(False, "not promoted: the champion's NDCG@10 on these cuts is undefined",
                           count, new_mean, old_mean)
    low, high = paired_bootstrap(new, old)
    better = new_mean > old_mean
    verb = "promoted" if better else "not promoted"
    return GateVerdict(better, f"{verb}: NDCG@10 {new_mean:.4f} vs champion {old_mean:.4f} on the same {count} "
                               f"queries (difference 95% CI {low:+.4f}..{high:+.4f})",
                       count, new_mean, old_mean, low, high)
