"""The served-list log, kept off the read path: a busy store never fails or stalls a GET.

Every live list is logged (``recommend.log_served``: the items, so feedback joins to
them, and the impression counters). That is a write, and on SQLite one writer holds
the lock at a time, so a bulk import would make every list wait for it and answer
503 past the busy timeout. Hence, per list:

1. Logged at once, waiting at most ``wait`` seconds for the lock (0.25 s by default,
   ``Settings.served_log_wait_seconds``). This is what happens whenever the store is
   not busy, so feedback sent right after a list finds it on any replica.
2. Otherwise queued (at most ``CAPACITY`` lists) with the time it was served, and
   the GET answers as usual. A thread writes the queue in order as soon as the store
   lets it, each list in its own transaction (so per-owner locks keep their order on
   PostgreSQL), counted ``late`` (``log_served``): what happened since it was served
   already answered it.
3. A queued list still unwritten after ``keep`` seconds, one the queue has no room
   for, or one whose write fails for another reason is dropped: counted, and logged
   as one line with the reason and the exception type (never ids or names).

``flush`` writes what is queued now; feedback calls it first, so feedback on a list
this process served finds it even while the list was queued. ``on_outcome`` is told
every list's fate (``now``, ``queued``, ``written_late``, ``dropped``) for the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

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


class ServedLog:
    """Logs served lists now if the store allows within ``wait`` seconds, else from a queue (module docstring)."""

    def __init__(self, engine: Engine, *, wait: float = 0.25, keep: float = 300.0,
                 on_outcome: Callable[[str], None] | None = None) -> None:
        self.engine, self.wait, self.keep = engine, wait, keep
        self._on_outcome = on_outcome or (lambda _outcome: None)
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._writing = threading.Lock()  # one writer of the queue at a time: the thread or a flush
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, tenant_id: int, result: RecommendationList) -> None:
        """Log ``result`` now, or queue it; never raises."""
        served_at = time.time()
        if not self._queue:  # nothing older waiting: the list may go in at once
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
                self._drop("queue full")
                return
            self._queue.append(_Pending(tenant_id, result, served_at))
            self._cond.notify()
        self._on_outcome(QUEUED)

    def pending(self) -> int:
        return len(self._queue)

    def flush(self, lock_wait: float | None = None) -> None:
        """Write every queued list now; a store still busy raises :class:`StoreBusyError` (503)."""
        with self._writing:
            while self._queue:
                self._write_head(lock_wait)

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
        try:
            self.flush(lock_wait=timeout)
        except Exception:  # noqa: BLE001 - dropped below, each counted
            pass
        while self._queue:
            self._queue.popleft()
            self._drop("shutdown")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
            try:
                with self._writing:
                    while self._queue and not self._stop.is_set():
                        self._write_head(DRAIN_LOCK_WAIT)
            except StoreBusyError:
                self._stop.wait(DRAIN_PAUSE)

    def _write_head(self, lock_wait: float | None) -> None:
        """Write the oldest queued list and take it off the queue, or drop it if it is too old or unwritable."""
        head = self._queue[0]
        if time.time() - head.served_at > self.keep:
            self._queue.popleft()
            self._drop("kept too long")
            return
        try:
            run_write(self.engine, lambda conn: log_served(conn, head.tenant_id, head.result, head.served_at,
                                                           late=True), lock_wait=lock_wait)
        except StoreBusyError:
            raise  # stays queued
        except Exception as exc:  # noqa: BLE001 - a list that cannot be written is dropped, the queue goes on
            self._queue.popleft()
            self._drop("write failed", exc)
            return
        self._queue.popleft()
        self._on_outcome(WRITTEN_LATE)

    def _drop(self, reason: str, exc: BaseException | None = None) -> None:
        extra = {"reason": reason, **({"error": type(exc).__name__} if exc is not None else {})}
        log.warning("served list not logged", extra=extra)
        self._on_outcome(DROPPED)
