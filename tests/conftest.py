"""Fixtures shared by every test module.

Databases are real (SQLite files and a PostgreSQL schema), never mocks, and
isolated per test so ``pytest -n 2`` workers never share a file or a schema:
- ``settings``: a fresh ``Settings`` whose data directory is the test's tmp_path.
- ``sqlite_engine``: a migrated SQLite file database in tmp_path.
- ``pg_engine``: a migrated PostgreSQL schema ``t_<uuid>`` dropped afterwards, on the
  server at ``INTRORANK_TEST_POSTGRES_URL`` (default: 127.0.0.1:5432, database ``test``);
  skips without a server unless ``INTRORANK_REQUIRE_POSTGRES=1`` (then fails). Both
  variables are the suite's own, read here, not settings of the product.
- ``engine``: the same test once on each backend.
- ``write_csv``: write a list of dicts as a CSV file in tmp_path.
- ``db_snapshot``: every row of every table, to prove a failed write left no trace.
- ``live_app``: a factory, ``live_app(settings, engine)`` -> ``LiveApp``: the real app
  (``introrank.service.api.app.create_app``, lifespan included) under uvicorn on a free port,
  with its base URL and ``client(key)``; stopped at teardown, or earlier with ``with``.
- ``tiny`` (session): a small simulated network loaded as a ``Dataset``.
- ``model_store`` (session): settings of a temp MLflow store holding a champion trained on ``tiny``.
"""

from __future__ import annotations

import csv
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from servicekit import free_port
from sqlalchemy import Engine, MetaData, create_engine, select, text
from sqlalchemy.exc import OperationalError

# The simulated networks of the tests are small: their test cuts hold a handful of queries
# with a positive, fewer than the champion gate's production minimum (30). Tests of the
# gate itself set ``gate_min_queries`` explicitly.
os.environ.setdefault("INTRORANK_GATE_MIN_QUERIES", "1")
# Webhook secrets are stored encrypted with this key (a fixed test key; every Settings() reads it).
# Tests of what happens without a key, or with another one, pass their own.
os.environ.setdefault("INTRORANK_WEBHOOK_SECRET_KEY", "dGVzdC1rZXktb2YtdGhlLXN1aXRlLW5vdC1hLXNlY3I=")

from introrank.service import settings as settings_module  # noqa: E402
from introrank.service.settings import Settings
from introrank.service.store.engine import dispose_engines, make_engine

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_test_url() -> str:
    """The server the PostgreSQL tests create their schemas on."""
    return os.environ.get("INTRORANK_TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL


def postgres_required() -> bool:
    """CI sets ``INTRORANK_REQUIRE_POSTGRES=1``: a missing server fails the tests instead of skipping them."""
    return os.environ.get("INTRORANK_REQUIRE_POSTGRES", "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at tmp_path, with the cached settings and engines cleared."""
    monkeypatch.setenv("INTRORANK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("INTRORANK_DATABASE_URL", raising=False)
    settings_module.get_settings.cache_clear()
    yield settings_module.get_settings()
    settings_module.get_settings.cache_clear()
    dispose_engines()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite file database, migrated to head."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL schema (tables and alembic_version in it), dropped afterwards."""
    url = postgres_test_url()
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL unreachable at {url}: {exc.orig}"
        if postgres_required():
            pytest.fail(f"{reason} (INTRORANK_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """``write_csv("events.csv", rows, columns=None)`` -> path; columns default to the
    first row's keys, missing values are written as empty cells."""

    def write(name: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
        path = tmp_path / name
        header = columns or (list(rows[0]) if rows else [])
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in header})
        return path

    return write


@pytest.fixture
def db_snapshot() -> Callable[[Engine], dict[str, list[tuple]]]:
    """``db_snapshot(engine)`` -> {table: sorted rows} for every table in the database."""

    def snapshot(engine: Engine) -> dict[str, list[tuple]]:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(conn.execute(select(table)).all(), key=repr)
                for name, table in metadata.tables.items()
            }

    return snapshot


class LiveApp:
    """One running app: ``app`` (its ``state`` is the process's), ``base`` URL, ``engine``."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        from introrank.service.api.app import create_app  # only tests that serve pay its import

        self.engine = engine
        self.app = create_app(settings, engine=engine)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self._clients: list[httpx.Client] = []
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self._server.should_exit = True
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def client(self, key: str | None = None, *, bearer: bool = False, timeout: float = 60) -> httpx.Client:
        """An HTTP client on this app, sending ``key`` as ``X-API-Key`` (or as a Bearer token); closed on stop."""
        headers = {} if key is None else {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
        client = httpx.Client(base_url=self.base, headers=headers, timeout=timeout)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        """Close the clients and shut the server down (lifespan shutdown included); idempotent."""
        for client in self._clients:
            client.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> LiveApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def live_app() -> Iterator[Callable[[Settings, Engine], LiveApp]]:
    """``live_app(settings, engine)`` starts the real app over HTTP; all are stopped at teardown."""
    started: list[LiveApp] = []

    def start(settings: Settings, engine: Engine) -> LiveApp:
        started.append(LiveApp(settings, engine))
        return started[-1]

    yield start
    for live in reversed(started):
        live.stop()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """Four simulated owners over twelve months, as the CSVs load."""
    from introrank.training.datasets import load_csv_dir
    from introrank.training.simulate import simulate_network, write_network

    folder = tmp_path_factory.mktemp("tiny")
    write_network(simulate_network(n_owners=4, seed=11, months=12), folder)
    return load_csv_dir(folder)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory, tiny) -> Settings:
    """A temp tracking store whose base model (trained on ``tiny``) serves every tenant."""
    from introrank.training.pipeline import run_training

    settings = Settings(data_dir=tmp_path_factory.mktemp("mlstore"))
    outcome = run_training(tiny, settings, tenant=None)  # the base model: serves every test tenant
    assert outcome.decision is not None and outcome.decision.promoted
    return settings
