"""The served-list log, kept off the read path: a busy store never fails or stalls a GET.

Every live list is logged (``recommend.log_served``: the items, so feedback joins to
them, and the impression counters). That is a write, and on SQLite one writer holds
the lock at a time, so a bulk import would make every list wait for it and answer
503 past the busy timeout. Hence, per list:

1. Logged at once, waiting at most ``wait`` seconds for the lock (0.25 s by default,
   ``Settings.served_log_wait_seconds``). This is what happens whenever the store is
   not busy, so feedback sent right after a list finds it on any replica.
2. Otherwise queued (at most ``CAPACITY`` lists) with the time it was served, and
   the GET answers as usual (on SQLite, while lists are queued, new ones are queued
   without the wait: the one write lock is known to be taken). A thread writes the queue as soon as the store lets it,
   each list in its own transaction (so per-owner locks keep their order on
   PostgreSQL; there, one owner's locked lists do not hold up the others), counted
   ``late`` (``log_served``): what happened since it was served already answered it.
3. A queued list still unwritten after ``keep`` seconds, one the queue has no room
   for, or one whose write fails for another reason is dropped: counted, and logged
   as one line with the reason and the exception type (never ids or names).

``flush(tenant, owner)`` writes that owner's queued lists now; feedback and erasure call
it first, so feedback on a list this process served finds it even while the list was
queued, and nothing of an erased owner is written after the erasure. ``on_outcome`` is told
every list's fate (``now``, ``queued``, ``written_late``, ``dropped``) for the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Connection, Engine

from introrank.service.serving.recommend import RecommendationList, log_served, remember_served
from introrank.service.store.concurrency import StoreBusyError, run_write

log = logging.getLogger("introrank.served_log")
CAPACITY = 10_000  # queued lists; a few minutes of a busy replica's lists
DRAIN_LOCK_WAIT = 2.0  # seconds the thread waits for the lock per try: short enough to notice stop()
DRAIN_PAUSE = 0.2  # seconds between rounds while the store stays busy
NOW, QUEUED, WRITTEN_LATE, DROPPED = "now", "queued", "written_late", "dropped"


@dataclass(frozen=True)
class _Pending:
    tenant_id: int
    result: RecommendationList
    served_at: float



def _log_late(item: _Pending, conn: Connection) -> None:
    log_served(conn, item.tenant_id, item.result, item.served_at, late=True)


class ServedLog:
    """Logs served lists now if the store allows within ``wait`` seconds, else from a queue (module docstring)."""

    def __init__(self, engine: Engine, *, wait: float = 0.25, keep: float = 300.0,
                 on_outcome: Callable[[str], None] | None = None) -> None:
        self.engine, self.wait, self.keep = engine, wait, keep
        self._on_outcome = on_outcome or (lambda _outcome: None)
        self._queue: list[_Pending] = []  # oldest first; guarded by _cond
        self._cond = threading.Condition()
        self._writing = threading.Lock()  # one writer of the queue at a time: the thread or a flush
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # SQLite has one write lock: when one list waits for it, all would. PostgreSQL locks per owner.
        self._one_lock = engine.dialect.name == "sqlite"

    def record(self, tenant_id: int, result: RecommendationList) -> None:
        """Log ``result`` now, or queue it; never raises."""
        served_at = time.time()
        if not (self._one_lock and self._queue):  # SQLite with lists queued: its one lock is busy, don't wait
            try:
                revision = run_write(self.engine, lambda conn: log_served(conn, tenant_id, result, served_at),
                                     lock_wait=self.wait)
            except StoreBusyError:
                pass  # queued below
            except Exception as exc:  # noqa: BLE001 - the log must not fail the read that served the list
                self._drop("write failed", exc)
                return
            else:
                remember_served(result, revision)
                self._on_outcome(NOW)
                return
        with self._cond:
            if len(self._queue) >= CAPACITY:
                full = True
            else:
                full = False
                self._queue.append(_Pending(tenant_id, result, served_at))
                self._cond.notify()
        if full:
            self._drop("queue full")
        else:
            self._on_outcome(QUEUED)

    def pending(self) -> int:
        return len(self._queue)

    def flush(self, tenant_id: int, owner_id: str, lock_wait: float | None = None) -> None:
        """Write the owner's queued lists now; a store still busy for them raises :class:`StoreBusyError` (503)."""
        with self._cond:
            if not any(p.tenant_id == tenant_id and p.result.owner_id == owner_id for p in self._queue):
                return
        with self._writing:
            busy = self._write_queued(lock_wait, lambda p: p.tenant_id == tenant_id and p.result.owner_id == owner_id)
        if busy is not None:
            raise busy

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="introrank-served-log", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, writing what the store takes within ``timeout``; the rest is dropped."""
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=timeout + DRAIN_LOCK_WAIT)
            self._thread = None
        with self._writing:
            self._write_queued(timeout, lambda _p: True)
            with self._cond:
                left, self._queue = self._queue, []
        for _ in left:
            self._drop("shutdown")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
            if self._stop.is_set():
                return
            with self._writing:
                busy = self._write_queued(DRAIN_LOCK_WAIT, lambda _p: True)
            if busy is not None:
                self._stop.wait(DRAIN_PAUSE)

    def _write_queued(self, lock_wait: float | None, wanted: Callable[[_Pending], bool]) -> StoreBusyError | None:
        """One pass over the queued lists ``wanted`` picks, oldest first: each written, kept, or dropped.

        A list the store is too busy for stays queued, and so do the later ones of its owner
        (of every owner on SQLite), untried: the same lock would make them wait too.
        Returns the first busy error of the pass, if any.
        """
        with self._cond:
            batch = [p for p in self._queue if wanted(p)]
        busy: StoreBusyError | None = None
        blocked: set[tuple[int, str]] = set()
        done: set[int] = set()
        for item in batch:
            owner = (item.tenant_id, item.result.owner_id)
            if owner in blocked or (busy is not None and self._one_lock):
                continue
            if time.time() - item.served_at > self.keep:
                done.add(id(item))
                self._drop("kept too long")
                continue
            try:
                run_write(self.engine, partial(_log_late, item), lock_wait=lock_wait)
            except StoreBusyError as exc:
                busy = busy or exc
                blocked.add(owner)
                continue
            except Exception as exc:  # noqa: BLE001 - a list that cannot be written is dropped, the queue goes on
                done.add(id(item))
                self._drop("write failed", exc)
                continue
            done.add(id(item))
            self._on_outcome(WRITTEN_LATE)
        with self._cond:
            self._queue = [p for p in self._queue if id(p) not in done]
        return busy

    def _drop(self, reason: str, exc: BaseException | None = None) -> None:
        extra = {"reason": reason, **({"error": type(exc).__name__} if exc is not None else {})}
        log.warning("served list not logged", extra=extra)
        self._on_outcome(DROPPED)
