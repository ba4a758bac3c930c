"""A small LRU cache whose entries are trusted only under the validity they were built with.

The service's per-process caches (profiles, scored lists) hold what is costly
to rebuild and check it, on every use, against revision counters the database
bumps in the same transaction as the data they summarise, so replicas never
serve stale entries. The validity always includes the owner's incarnation id
(``owners.incarnation``), because the counters restart at 0 when an erased owner
is created again. An optional age limit bounds entries whose content also
depends on the clock, or that should simply not outlive it; ``forget`` drops
an erased owner's entries at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class RevisionCache(Generic[T]):
    def __init__(self, capacity: int, max_age_seconds: float | None = None,
                 born: Callable[[T], float] | None = None) -> None:
        """``max_age_seconds`` (with ``born``, an entry's creation time) bounds entry age; None = no bound."""
        self.capacity = capacity
        self.max_age_seconds = max_age_seconds
        self._born = born
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, T]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and (self.max_age_seconds is None or self.max_age_seconds > 0)

    def _fresh(self, entry: T, now: float | None) -> bool:
        if self.max_age_seconds is None or self._born is None:
            return True
        age = (time.time() if now is None else now) - self._born(entry)
        return 0 <= age <= self.max_age_seconds

    def get(self, key: Hashable, validity: Hashable, build: Callable[[], T], now: float | None = None) -> T:
        """The entry for ``key`` if built under ``validity`` (and young enough), else a new one."""
        if not self.enabled:
            return build()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == validity and self._fresh(hit[1], now):
                self._entries.move_to_end(key)
                self.hits += 1
                return hit[1]
            self.misses += 1
        entry = build()
        with self._lock:
            self._entries[key] = (validity, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return entry

    def held(self, key: Hashable, now: float | None = None) -> tuple[Hashable, T] | None:
        """The entry for ``key`` and the validity it was built under (if young enough), for callers that
        can bring an older entry up to date instead of rebuilding it (``state_cache``)."""
        if not self.enabled:
            return None
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or not self._fresh(hit[1], now):
                return None
            self._entries.move_to_end(key)
            return hit

    def put(self, key: Hashable, validity: Hashable, entry: T,
            newer: Callable[[T, T], bool] | None = None) -> None:
        """Keep ``entry`` for ``key``; with ``newer``, not over a held entry of the same validity that
        ``newer(held, entry)`` says is newer (two threads bringing one entry up to date)."""
        if not self.enabled:
            return
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and newer is not None and hit[0] == validity and newer(hit[1], entry):
                return
            self._entries[key] = (validity, entry)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def forget(self, match: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key ``match`` accepts (an erasure); returns how many went."""
        with self._lock:
            gone = [key for key in self._entries if match(key)]
            for key in gone:
                del self._entries[key]
        return len(gone)

    def forget_owner(self, tenant_id: int, owner_id: str) -> int:
        """Drop the entries of one owner: keys are ``(tenant_id, owner_id, ...)``."""
        return self.forget(lambda key: isinstance(key, tuple) and key[:2] == (tenant_id, owner_id))

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)
