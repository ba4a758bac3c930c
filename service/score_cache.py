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

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar


class Timed(Protocol):
    at: float  # the time the entry's features were computed at


T = TypeVar("T", bound=Timed)


class ScoreCache:
    def __init__(self, max_age_seconds: float, capacity: int = 256) -> None:
        self.max_age_seconds = max_age_seconds
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, Timed]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_age_seconds > 0 and self.capacity > 0

    def get(self, key: Hashable, validity: Hashable, build: Callable[[], T], now: float | None = None) -> T:
        """The entry for ``key`` if built under ``validity`` and young enough, else a new one."""
        if not self.enabled:
            return build()
        now = time.time() if now is None else now
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == validity and 0 <= now - hit[1].at <= self.max_age_seconds:
                self._entries.move_to_end(key)
                self.hits += 1
                return hit[1]  # type: ignore[return-value]
            self.misses += 1
        entry = build()
        with self._lock:
            self._entries[key] = (validity, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry
