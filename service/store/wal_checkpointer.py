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
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine

from introrank.service.store.engine import sqlite_file

log = logging.getLogger("introrank.db")

DEFAULT_INTERVAL_SECONDS = 0.1  # an events stream fills ~2,500 WAL frames in 0.1 s; the backstop is 10,000


class WalCheckpointer:
    """Every ``interval`` seconds, a PASSIVE checkpoint of one SQLite database file."""

    def __init__(self, database: Path, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

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
        self._thread = threading.Thread(target=self._run, name="introrank-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except sqlite3.Error as exc:  # locked or gone for a moment: the next round retries
                log.warning("WAL checkpoint failed", extra={"error": type(exc).__name__})

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
