"""Concurrent writers: per-owner locks, the retried unit of work, and which store errors are transient.

A CRM syncs with parallel workers, so several transactions fold into the same
owner's aggregates at once. Each of them reads the stored pair states, merges in
Python and upserts, so two of them interleaving would lose one's update. Hence:

- :func:`lock_owners`: a writer locks every owner it touches, in sorted order,
  before it writes (PostgreSQL row locks on ``owners``; they live in the row,
  not in the shared lock table, so an import of 100,000 owners cannot exhaust
  it). Writers of one owner then run one after another, and two writers of
  several owners cannot wait on each other in a cycle. SQLite needs nothing:
  ``BEGIN IMMEDIATE`` already admits one writer at a time.
- :func:`run_write`: the whole transaction is one function, re-run with
  jittered backoff on a deadlock or serialization failure (what is left of
  those after the locks: an event id shared by two owners' batches, a writer
  outside this module). It gives up after a few tries with
  :class:`StoreBusyError`, which the API answers 503 with ``Retry-After``.
- :func:`unavailable_from`: the one list of errors that mean "the store cannot
  do it now" (lock timeouts, "database is locked", a lost or refused
  connection) as opposed to a bug, for the writes here and the API's reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import TypeVar

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from introrank.service.errors import UnavailableError
from introrank.service.store.engine import raw_cursor, write_connection

T = TypeVar("T")
WRITE_TRIES = 5
_BACKOFF = wait_random_exponential(multiplier=0.05, max=1.0)  # 50 ms, 100 ms ... at random, at most 1 s
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected: re-running the transaction helps
_CONTENDED = {"55P03", "57014"}  # lock_not_available (lock_timeout), query_canceled (statement_timeout)
_DOWN = {"57P01", "57P02", "57P03", "53300"}  # shutting down, starting up, too many connections
_SQLITE_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)
CONTENDED_RETRY_AFTER = 1  # seconds: a lock is free again soon
DOWN_RETRY_AFTER = 5  # seconds: a server restarting or unreachable takes longer


class StoreBusyError(UnavailableError):
    """A write that kept colliding with others, or waited too long for a lock: try again shortly."""


def lock_owners(conn: Connection, tenant_id: int, owner_ids: Iterable[str]) -> None:
    """Lock these owners' rows until the transaction ends, in sorted order (PostgreSQL; no-op on SQLite).

    ``FOR NO KEY UPDATE`` is the lock an UPDATE of the owner row takes itself, so
    inserts referencing the owner (foreign-key checks) are not blocked by it. Owners
    not stored yet are not locked: nobody can fold events into them before they exist.
    Locking again what the transaction holds returns at once.
    """
    if conn.dialect.name != "postgresql":
        return
    ids = sorted(set(owner_ids))
    if not ids:
        return
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"SELECT owner_id FROM owners WHERE tenant_id = {mark} AND owner_id = ANY({mark}) "
                       "ORDER BY owner_id FOR NO KEY UPDATE", [tenant_id, ids])
        cursor.fetchall()


def run_write(engine: Engine, work: Callable[[Connection], T], *, bulk: bool = False,
              lock_wait: float | None = None, tries: int = WRITE_TRIES) -> T:
    """``work(conn)`` in one write transaction, re-run whole on a deadlock or serialization failure.

    ``work`` must only touch the database (it may run several times; only the last
    run commits). Transient failures end as :class:`StoreBusyError` (503), other
    errors propagate unchanged. ``lock_wait`` bounds each try's wait for a lock
    (``write_connection``), ``tries`` the number of runs.
    """
    try:
        for attempt in Retrying(stop=stop_after_attempt(tries), wait=_BACKOFF, reraise=True,
                                retry=retry_if_exception(is_retryable)):
            with attempt, write_connection(engine, bulk=bulk, lock_wait=lock_wait) as conn:
                return work(conn)
    except Exception as exc:
        busy = unavailable_from(exc)
        if busy is None:
            raise
        raise busy from exc
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


def _dbapi_error(exc: BaseException) -> BaseException:
    """The driver's own exception: SQLAlchemy wraps it, the raw-cursor hot paths raise it bare."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(_dbapi_error(exc), "sqlstate", None)


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back and may simply run again."""
    return _sqlstate(exc) in _RETRYABLE


def unavailable_from(exc: BaseException) -> StoreBusyError | None:
    """The 503 a transient store error means, or None for an error that is a bug or bad data."""
    if isinstance(exc, StoreBusyError):
        return exc
    if isinstance(exc, PoolTimeoutError | DisconnectionError):
        return StoreBusyError("the database is busy: retry shortly", CONTENDED_RETRY_AFTER)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return StoreBusyError("the database connection was lost: retry shortly", DOWN_RETRY_AFTER)
    orig = _dbapi_error(exc)
    if isinstance(orig, sqlite3.OperationalError):
        if getattr(orig, "sqlite_errorcode", 0) & 0xFF in _SQLITE_BUSY:
            return StoreBusyError("the database is locked by another writer: retry shortly", CONTENDED_RETRY_AFTER)
        return None
    state = _sqlstate(exc)
    if state in _RETRYABLE or state in _CONTENDED:
        return StoreBusyError("the database is busy: retry shortly", CONTENDED_RETRY_AFTER)
    if state in _DOWN or (state or "").startswith("08"):
        return StoreBusyError("the database is unavailable: retry shortly", DOWN_RETRY_AFTER)
    if state is None and isinstance(orig, psycopg.OperationalError):  # refused or dropped: no server answer
        return StoreBusyError("the database is unavailable: retry shortly", DOWN_RETRY_AFTER)
    return None
