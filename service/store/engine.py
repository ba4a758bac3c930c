"""Engines, transactions and the tenant lookup: the one way into the database.

SQLite (a file under the data directory) is the zero-setup default; PostgreSQL is
used when the URL points at one. Both are migrated to the Alembic head when the
engine is created, so no caller ever sees an old schema.

SQLite details, and why:
- WAL journal: readers (the API) never block the writer (an import), and
  ``synchronous=NORMAL`` is durable enough under WAL while much faster.
- ``wal_autocheckpoint`` is a backstop, not the schedule: ``introrank serve``
  checkpoints from a background thread (``introrank.service.store.wal_checkpointer``), so a
  commit copies pages back into the database file only if that thread falls
  behind.
- ``foreign_keys=ON``: SQLite ignores foreign keys (and ON DELETE CASCADE,
  which erasure relies on) unless asked per connection.
- SQLAlchemy, not the sqlite3 module, emits BEGIN (the recipe in SQLAlchemy's
  SQLite docs) so DDL and SELECTs are inside the transaction: a failed migration
  or import rolls back completely. Writers use ``BEGIN IMMEDIATE``
  (:func:`write_connection`) so they take the write lock up front and wait for it,
  instead of failing with "database is locked" when a read turns into a write:
  SQLite writers are serialized by that one lock, so they never deadlock.

Both backends wait at most ``lock_timeout`` seconds for a lock (SQLite's busy
timeout, PostgreSQL's ``lock_timeout``); past that the write fails with an error
``introrank.service.store.concurrency`` calls transient (the API answers 503).
Engines hide SQL parameters (``hide_parameters``): they hold names, and an
exception message or log line must never carry one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url

from introrank.service.settings import Settings
from introrank.service.store.tables import Tenant, utc_now

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_SQLITE_IMMEDIATE = "introrank_sqlite_immediate"  # execution option read by the begin hook
_MIGRATION_LOCK_KEY = 0x1E7A0C0  # pg_advisory_xact_lock key: one migrator at a time
_SQLITE_CACHE_KIB = -65536  # negative = KiB: 64 MiB page cache per connection
_SQLITE_BULK_CACHE_KIB = -262144  # 256 MiB while a bulk import holds the connection
SQLITE_AUTOCHECKPOINT_PAGES = 10000  # ~40 MiB of WAL before a commit checkpoints by itself
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds; Settings.store_lock_timeout_seconds overrides it

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator gave."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for the configured database, migrated to head."""
    url = normalize_url(settings.resolved_database_url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url, lock_timeout=settings.store_lock_timeout_seconds)
        return engine


def dispose_engines() -> None:
    """Close and forget every cached engine (tests, or a process that re-configures)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def sqlite_file(url: URL) -> str | None:
    """The database file of a SQLite URL; None for in-memory SQLite or another backend."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def make_engine(url: str, *, schema: str | None = None, migrate: bool = True,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Engine:
    """A new, uncached engine; ``schema`` pins PostgreSQL's search_path (tests).

    With a schema, the tables and ``alembic_version`` all live in it, so parallel
    test workers never see each other's data. ``lock_timeout``: seconds a statement
    waits for a lock before failing (0 = forever on PostgreSQL, no wait on SQLite).
    """
    url = normalize_url(url)
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    timeout_ms = max(int(lock_timeout * 1000), 0)
    if parsed.get_backend_name() == "postgresql":
        # connect_args replace the URL's own ``options``, so they are kept and extended.
        options = [str(parsed.query.get("options", "")), f"-clock_timeout={timeout_ms}"]
        if schema:
            options.append(f"-csearch_path={schema}")
        connect_args["options"] = " ".join(o for o in options if o)
    sqlite_path = sqlite_file(parsed)
    pool_args: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    if parsed.get_backend_name() != "sqlite" or sqlite_path is not None:
        # A pool of connections (in-memory SQLite has one): LIFO, so the connection
        # used last is used next. A SQLite connection's page cache survives its own
        # commits, so back-to-back writes (an events stream) keep a warm cache
        # instead of rotating through cold ones (~6% of a 1,000-event batch).
        pool_args["pool_use_lifo"] = True
    if sqlite_path is not None:
        Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **pool_args)
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine, timeout_ms)
    if migrate:
        upgrade_to_head(engine)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see below
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "synchronous=NORMAL",
            f"busy_timeout={busy_timeout_ms}",
            f"cache_size={_SQLITE_CACHE_KIB}",
            f"wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upgrade_to_head(engine: Engine) -> None:
    """Apply every Alembic revision in ``migrations/versions`` not yet applied."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":  # a long migration elsewhere is waited for, not a 503
            conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


@contextmanager
def write_connection(engine: Engine, *, bulk: bool = False, lock_wait: float | None = None) -> Iterator[Connection]:
    """A connection in one transaction that is going to write: commit or roll back.

    On SQLite it takes the write lock at BEGIN (waiting up to the busy timeout),
    and ``bulk`` raises the page cache for the duration, so index inserts of a
    large import stay in memory (2x faster for 1M events). Elsewhere it is a plain
    ``engine.begin()``. ``lock_wait``: seconds this transaction waits for a lock
    instead of the engine's ``lock_timeout`` (0 = not at all on SQLite), for writes
    a read makes on the side and would rather skip than wait for (the served-list log).
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{_SQLITE_IMMEDIATE: True})
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if bulk and raw is not None:  # on the raw connection: outside any transaction
            raw.execute(f"PRAGMA cache_size={_SQLITE_BULK_CACHE_KIB}")
        wait_ms = None if lock_wait is None else max(int(lock_wait * 1000), 0)
        restore_ms = None
        if wait_ms is not None and raw is not None:
            restore_ms = raw.execute("PRAGMA busy_timeout").fetchone()[0]
            raw.execute(f"PRAGMA busy_timeout={wait_ms}")
        try:
            with conn.begin():
                if wait_ms is not None and raw is None and conn.dialect.name == "postgresql":
                    # 0 would mean "forever" on PostgreSQL: the shortest real wait instead
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(wait_ms, 1)}")
                yield conn
        finally:
            if bulk and raw is not None:
                raw.execute(f"PRAGMA cache_size={_SQLITE_CACHE_KIB}")
            if restore_ms is not None and raw is not None:
                raw.execute(f"PRAGMA busy_timeout={restore_ms}")


def find_tenant(conn: Connection, name: str) -> int | None:
    """The id of tenant ``name``, or None when no such tenant is stored."""
    return conn.execute(select(Tenant.id).where(Tenant.name == name)).scalar_one_or_none()


def get_or_create_tenant(conn: Connection, name: str) -> int:
    """The id of tenant ``name``, creating it if needed (safe under concurrency)."""
    tenant_id = find_tenant(conn, name)
    if tenant_id is not None:
        return tenant_id
    values = {"name": name, "created_at": utc_now()}
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(Tenant).values(values)
        conn.execute(pg.on_conflict_do_nothing(index_elements=["name"]))
    else:
        lite = sqlite.insert(Tenant).values(values)
        conn.execute(lite.on_conflict_do_nothing(index_elements=["name"]))
    return conn.execute(select(Tenant.id).where(Tenant.name == name)).scalar_one()


@contextmanager
def raw_cursor(conn: Connection) -> Iterator[tuple[Any, str]]:
    """The DBAPI cursor of this connection's transaction and its parameter mark ('?' or '%s').

    The hot paths (aggregate reads and upserts, bulk event reads) skip SQLAlchemy's
    per-row processing, which costs more than the query itself at these sizes.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None, "raw_cursor needs an open connection"
    cursor = dbapi.cursor()
    try:
        yield cursor, "?" if conn.dialect.name == "sqlite" else "%s"
    finally:
        cursor.close()
