"""Scores to probabilities: isotonic regression with its steps shrunk toward the base rate.

Plain isotonic regression puts a probability of 1.0 on a top step that held a
handful of validation rows, all positive; no referral is certain. Each step's
rate is re-estimated with ``pseudo_count`` rows at the base rate added (a
beta prior), then kept monotone, so small steps say "likely", not "certain".

Between steps the map is linear from one step's centre (its mean raw score) to
the next ("centred isotonic regression"), not flat across each step: two
different scores in one step still get different probabilities, so a tie that
is cooling always shows a drop (keep-warm's "at stake"), and the ranking the
probabilities give is the model's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class SmoothedIsotonic:
    thresholds: np.ndarray  # raw-score knots, ascending
    values: np.ndarray  # probability at each knot, non-decreasing

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(raw, dtype=float), self.thresholds, self.values)


def fit_smoothed_isotonic(raw: np.ndarray, labels: np.ndarray, pseudo_count: float = 20.0) -> SmoothedIsotonic:
    raw, labels = np.asarray(raw, dtype=float), np.asarray(labels, dtype=float)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
    steps, which = np.unique(iso.predict(raw), return_inverse=True)
    count = np.bincount(which, minlength=len(steps))
    positives = np.bincount(which, weights=labels, minlength=len(steps))
    prior = labels.mean()
    shrunk = np.maximum.accumulate((positives + pseudo_count * prior) / (count + pseudo_count))
    centres = np.bincount(which, weights=raw, minlength=len(steps)) / np.maximum(count, 1)
    # Keeping the shrunk rates monotone can make neighbours equal: one knot per run of equal
    # rates (at the run's count-weighted centre) keeps the map strictly increasing between knots.
    run = np.concatenate([[0], np.cumsum(np.diff(shrunk) > 0)])
    weight = np.bincount(run, weights=count)
    knots = np.bincount(run, weights=centres * count) / np.maximum(weight, 1)
    return SmoothedIsotonic(knots, shrunk[np.searchsorted(run, np.arange(run[-1] + 1))])
