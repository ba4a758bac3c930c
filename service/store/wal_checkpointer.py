"""SQLite WAL checkpoints on a background thread, so request commits don't pay for them.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies
them back into the database file and fsyncs it. By default SQLite runs that
inside whichever commit pushes the WAL past ``wal_autocheckpoint`` pages, so
an unlucky ``POST /v1/events`` does the copying and the fsync for everyone
(an events batch of 1,000 dirties about 1,100 pages, so with SQLite's default
threshold of 1,000 that was nearly every batch).

The service instead checkpoints from this thread, on its own connection, while
the API keeps answering: SQLite's own advice for applications that want steady
commit latency. Request connections keep ``wal_autocheckpoint`` as a backstop
(``introrank.service.store.engine.SQLITE_AUTOCHECKPOINT_PAGES``), which only fires if this thread
falls behind. A checkpoint between batches also writes each page once, however
many batches touched it since the last one.

``PASSIVE`` mode never waits for readers or writers, so this cannot block a
request; with several workers only one checkpoint runs at a time and the others
report "busy", which is fine. PostgreSQL and in-memory SQLite need none of this.

A checkpointer that stops working must not go unnoticed: the WAL would then grow
until the backstop makes request commits pay again. A failed round drops the
connection, so the next round opens a fresh one (a broken connection heals by
itself); :meth:`WalCheckpointer.health` says whether the thread is alive and
whether its last rounds succeeded, and the service reports that in ``/readyz``
and as the ``introrank_wal_checkpointer_up`` metric.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from introrank.service.store.engine import sqlite_file

log = logging.getLogger("introrank.db")

DEFAULT_INTERVAL_SECONDS = 0.1  # an events stream fills ~2,500 WAL frames in 0.1 s; the backstop is 10,000
FAILING_AFTER = 3  # consecutive failed rounds before health says "failing" (one locked round is normal)


@dataclass(frozen=True)
class CheckpointerHealth:
    """``state``: ok | failing (its last rounds raised ``error``) | dead (the thread ended: ``error``) |
    stopped (never started, or stopped on shutdown)."""

    state: str
    error: str | None = None
    consecutive_failures: int = 0
    failed_rounds: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def describe(self) -> str:
        """One short phrase for ``/readyz``: the state and the exception type, never a message."""
        if self.state == "failing":
            return f"failing ({self.error}, {self.consecutive_failures} rounds in a row)"
        return f"{self.state} ({self.error})" if self.error else self.state


class WalCheckpointer:
    """Every ``interval`` seconds, a PASSIVE checkpoint of one SQLite database file."""

    def __init__(self, database: Path, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._consecutive_failures = 0
        self._failed_rounds = 0
        self._last_error: str | None = None
        self._died_of: str | None = None

    @classmethod
    def for_engine(cls, engine: Engine, interval: float = DEFAULT_INTERVAL_SECONDS) -> WalCheckpointer | None:
        """A checkpointer for an engine on a SQLite file; None for anything else."""
        database = sqlite_file(engine.url)
        if database is None or database.startswith("file:"):
            return None
        return cls(Path(database), interval)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, WAL frames, frames copied back), as SQLite reports them."""
        if self._conn is None:
            # Autocommit, short busy timeout: a checkpoint is never worth waiting for.
            self._conn = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False, timeout=0.1)
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._died_of = None
        self._thread = threading.Thread(target=self._run, name="introrank-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._round()
        except BaseException as exc:  # noqa: BLE001 - the thread ends here, reported by health() as dead
            self._died_of = type(exc).__name__
            log.error("WAL checkpointer thread died", extra={"error": self._died_of})

    def _round(self) -> None:
        try:
            self.checkpoint()
        except Exception as exc:  # locked, gone, broken: the next round retries on a fresh connection
            self._consecutive_failures += 1
            self._failed_rounds += 1
            self._last_error = type(exc).__name__
            self._drop_connection()
            log.warning("WAL checkpoint failed", extra={"error": self._last_error})
        else:
            self._consecutive_failures = 0

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> CheckpointerHealth:
        """Whether checkpoints are happening: the thread's state and its recent rounds."""
        failures, total = self._consecutive_failures, self._failed_rounds
        if self._thread is None:
            return CheckpointerHealth("stopped", None, failures, total)
        if not self._thread.is_alive():
            return CheckpointerHealth("dead", self._died_of or "exited", failures, total)
        if failures >= FAILING_AFTER:
            return CheckpointerHealth("failing", self._last_error, failures, total)
        return CheckpointerHealth("ok", None, failures, total)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._drop_connection()
