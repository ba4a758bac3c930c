"""SQLite WAL checkpoints run on the service's own thread, not inside request commits."""

from __future__ import annotations

import ctypes
import shutil
import sqlite3
import time
from pathlib import Path

from servicekit import load_through_api
from sqlalchemy import Engine, create_engine

from introrank.service.settings import Settings
from introrank.service.store.engine import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    get_or_create_tenant,
    make_engine,
    write_connection,
)
from introrank.service.store.keys import create_api_key
from introrank.service.store.wal_checkpointer import WalCheckpointer


def _events_in_main_file(database: Path, scratch: Path) -> int | None:
    """Events readable from the database file alone, ignoring its WAL (None: not readable yet)."""
    shutil.copyfile(database, scratch)
    try:
        with sqlite3.connect(f"file:{scratch}?immutable=1", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.DatabaseError:  # copied mid-checkpoint: try again
        return None


def test_request_connections_only_checkpoint_as_a_backstop(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SQLITE_AUTOCHECKPOINT_PAGES > 1000


def test_checkpoint_copies_every_committed_frame_back(sqlite_engine: Engine) -> None:
    checkpointer = WalCheckpointer.for_engine(sqlite_engine)
    assert checkpointer is not None
    try:
        checkpointer.checkpoint()
        with write_connection(sqlite_engine) as conn:
            for i in range(200):
                get_or_create_tenant(conn, f"tenant-{i}")
        busy, frames, copied = checkpointer.checkpoint()
        assert busy == 0 and frames > 0 and copied == frames
    finally:
        checkpointer.stop()


def test_only_sqlite_files_get_a_checkpointer(tmp_path: Path) -> None:
    memory = make_engine("sqlite://")
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connects
    assert WalCheckpointer.for_engine(memory) is None
    assert WalCheckpointer.for_engine(postgres) is None
    memory.dispose()


def test_the_running_service_checkpoints_in_the_background(sqlite_engine: Engine, tmp_path: Path, tiny,
                                                          live_app) -> None:
    """Without the thread, the loaded events would sit in the WAL: far below the backstop threshold."""
    database = Path(sqlite_engine.url.database)
    key = create_api_key(sqlite_engine, "ckpt")
    live = live_app(Settings(data_dir=tmp_path / "store"), sqlite_engine)
    app = live.app
    with live, live.client(key) as client:
        assert app.state.wal_checkpointer.running
        posted = load_through_api(client, tiny)
        deadline = time.monotonic() + 20
        found = None
        while found != posted and time.monotonic() < deadline:
            time.sleep(0.2)
            found = _events_in_main_file(database, tmp_path / "main-only.db")
        assert found == posted
    assert not app.state.wal_checkpointer.running


class _Killed(BaseException):
    """Raised inside the checkpointer thread from outside: the thread ends, as on any uncaught error."""


def _readyz(client) -> dict:  # noqa: ANN001 - an httpx client
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _up(client) -> float:  # noqa: ANN001
    line = next(x for x in client.get("/metrics").text.splitlines() if x.startswith("introrank_wal_checkpointer_up"))
    return float(line.split()[-1])


def _until(check, seconds: float = 20.0) -> bool:  # noqa: ANN001 - a predicate
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_failing_or_dead_checkpointer_shows_in_readyz_and_metrics(sqlite_engine: Engine, tmp_path: Path,
                                                                   live_app) -> None:
    live = live_app(Settings(data_dir=tmp_path / "store"), sqlite_engine)
    checkpointer: WalCheckpointer = live.app.state.wal_checkpointer
    with live.client() as client:
        assert _readyz(client)["wal_checkpointer"] == "ok" and _readyz(client)["status"] == "ready"
        assert _up(client) == 1.0
        # its connection breaks: the next round fails, drops it, and the one after reconnects
        real = checkpointer.database
        checkpointer.database = tmp_path / "no-such-folder" / "introrank.db"  # reconnecting fails too
        checkpointer._conn.close()  # noqa: SLF001 - the fault: a connection that stopped working
        assert _until(lambda: _readyz(client)["status"] == "degraded")
        body = _readyz(client)
        assert body["wal_checkpointer"].startswith("failing (") and "Error" in body["wal_checkpointer"]
        assert _up(client) == 0.0
        checkpointer.database = real  # the file is back: checkpoints heal by themselves
        assert _until(lambda: _readyz(client)["wal_checkpointer"] == "ok")
        assert _up(client) == 1.0
        # the thread dies (an exception nothing in it catches): reported, not silent
        thread = checkpointer._thread  # noqa: SLF001
        assert thread is not None
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_Killed))
        assert _until(lambda: not thread.is_alive())
        body = _readyz(client)
        assert body["wal_checkpointer"] == "dead (_Killed)" and body["status"] == "degraded"
        assert body["database"] == "ok"  # requests are still answered
        assert _up(client) == 0.0
        failed = next(x for x in client.get("/metrics").text.splitlines()
                      if x.startswith("introrank_wal_checkpoint_failed_rounds"))
        assert float(failed.split()[-1]) >= 3
