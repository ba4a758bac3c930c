"""Each owner's scored candidates, reused until the database or the clock says they are stale.

Scoring an owner's whole list (features from 2,000 aggregates, LightGBM,
calibration) is most of a recommendation's cost, yet its inputs change only
when events arrive, the owner or their contacts are edited, the model is
swapped, or time moves on. An entry is trusted only while the owner's
``state_revision`` and ``profile_revision`` (bumped in the same transaction as
those writes, so every replica sees them) and the served model are the ones it
was built with, and for at most ``max_age_seconds``. A list built from an entry
is exactly the model's answer at the entry's time, which the response reports
as ``as_of``. Re-ranking (impressions, the tenant's policy) runs on every
request, so it is never cached.
"""

from __future__ import annotations

from typing import Protocol

from introrank.service.serving.revision_cache import RevisionCache


class Timed(Protocol):
    at: float  # the time the entry's features were computed at


class ScoreCache(RevisionCache[Timed]):
    def __init__(self, max_age_seconds: float, capacity: int = 256) -> None:
        super().__init__(capacity, max_age_seconds, born=lambda entry: entry.at)
