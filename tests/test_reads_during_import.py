"""Reads never wait on a bulk import: lists and keep-warm answer while an import's transaction is open.

Through the real app over HTTP. The import is the real ``import_csvs`` (what
``introrank import`` runs) in a thread; the lock another writer holds is a real
second SQLite connection in ``BEGIN IMMEDIATE``. No timing is asserted: the tests
check instead that the reads ran while the import was open (its owners not yet
visible to a fresh reader, its lock held) and that every one answered 200.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from introrank.model.constants import CONTACTS_CSV, EVENTS_CSV, OWNERS_CSV
from introrank.service.api.observability import JsonFormatter
from introrank.service.settings import Settings
from introrank.service.store.csv_import import import_csvs
from introrank.service.store.engine import make_engine
from introrank.service.store.impressions import impressions_as_of, load_impressions
from introrank.service.store.keys import create_api_key

NOW = time.time()
SECRET = "Ottoline Vexbridge"  # a contact name: never in a log line
N_IMPORTED = 80_000  # events: a write transaction of a few seconds here, dozens of reads inside it


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _seed(client: httpx.Client, owner_id: str, n: int = 12) -> None:
    """An owner with ``n`` contacts (c00 named SECRET) and a few events each, through the API."""
    client.put(f"/v1/owners/{owner_id}", json={"goal": "job_search"}).raise_for_status()
    contacts = [{"contact_id": f"c{i:02d}", "company": f"co{i % 4}", "name": SECRET if i == 0 else None}
                for i in range(n)]
    client.put(f"/v1/owners/{owner_id}/contacts", json={"contacts": contacts}).raise_for_status()
    events = [{"event_id": f"{owner_id}-seed-{i}-{j}", "owner_id": owner_id, "contact_id": f"c{i:02d}",
               "occurred_at": _iso(NOW - (j + 1) * 9 * 86400), "type": "message", "direction": "in"}
              for i in range(n) for j in range(3)]
    client.post("/v1/events", json={"events": events}).raise_for_status()


def _write_export(folder: Path, n_owners: int, contacts_per_owner: int, n_events: int) -> dict[str, Path]:
    """A valid CRM export of owners bulk0..: large enough that its write transaction lasts a while."""
    rng = np.random.default_rng(3)
    owners = pd.DataFrame({"owner_id": [f"bulk{i}" for i in range(n_owners)], "career_stage": 3,
                           "industry": "tech", "goal": "job_search"})
    owner_of = np.repeat(np.arange(n_owners), contacts_per_owner)
    contacts = pd.DataFrame({"owner_id": [f"bulk{i}" for i in owner_of],
                             "contact_id": [f"c{i:02d}" for i in np.tile(np.arange(contacts_per_owner), n_owners)],
                             "company": "Acme", "industry": "tech", "title": "Engineer", "career_stage": 3})
    pick = rng.integers(0, len(contacts), n_events)
    seconds = rng.integers(int(NOW) - 300 * 86400, int(NOW) - 86400, n_events)
    events = pd.DataFrame({
        "event_id": [f"imp-{i}" for i in range(n_events)], "owner_id": contacts["owner_id"].to_numpy()[pick],
        "contact_id": contacts["contact_id"].to_numpy()[pick],
        "occurred_at": np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "+00:00"),
        "type": rng.choice(["message", "meeting", "touch"], n_events), "direction": rng.choice(["in", "out"], n_events),
        "useful": ""})
    paths = {"owners": folder / OWNERS_CSV, "contacts": folder / CONTACTS_CSV, "events": folder / EVENTS_CSV}
    for frame, name in ((owners, "owners"), (contacts, "contacts"), (events, "events")):
        frame.to_csv(paths[name], index=False)
    return paths


def _import_open(engine: Engine, holder_probe) -> bool:  # noqa: ANN001
    """The import is writing: its lock is held (``holder_probe``) and none of its new owners is visible yet."""
    with engine.connect() as conn:
        committed = conn.execute(text("SELECT count(*) FROM owners WHERE owner_id = 'bulk1'")).scalar_one()
    return committed == 0 and holder_probe()


def _sqlite_lock_held(engine: Engine):  # noqa: ANN202
    path = engine.url.database

    def probe() -> bool:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            other.close()

    return probe


def _postgres_owner_locked(engine: Engine):  # noqa: ANN202
    def probe() -> bool:  # the import locks its stored owners first: bulk0 is one of them
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1 FROM owners WHERE owner_id = 'bulk0' FOR NO KEY UPDATE NOWAIT")).all()
            return False
        except OperationalError:
            return True

    return probe


@pytest.mark.slow
def test_recommendations_keep_answering_during_a_long_import(engine: Engine, tmp_path: Path, live_app) -> None:
    """Lists of an owner outside the import, and of one it rewrites (its row locked on PostgreSQL), and
    keep-warm, all 200 while the import's transaction is open; afterwards every served list is logged."""
    key = create_api_key(engine, "crm")
    live = live_app(Settings(data_dir=tmp_path / "store"), engine)
    client = live.client(key)
    for owner_id in ("reader", "bulk0"):
        _seed(client, owner_id)
    paths = _write_export(tmp_path, n_owners=20, contacts_per_owner=200, n_events=N_IMPORTED)
    probe = _sqlite_lock_held(engine) if engine.dialect.name == "sqlite" else _postgres_owner_locked(engine)
    outcome: dict = {}

    def run_import() -> None:
        try:
            outcome["report"] = import_csvs(engine, "crm", **paths)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    importer = threading.Thread(target=run_import)
    importer.start()
    deadline = time.monotonic() + 300
    while importer.is_alive() and not _import_open(engine, probe):
        assert time.monotonic() < deadline, "the import never took its lock"
        time.sleep(0.02)
    statuses, during, items = [], 0, 0
    while importer.is_alive():
        for path in ("/v1/owners/reader/recommendations", "/v1/owners/bulk0/recommendations",
                     "/v1/owners/reader/keep-warm"):
            response = client.get(path, params={"k": 5})
            statuses.append(response.status_code)
            if response.status_code == 200 and path.endswith("recommendations"):
                items += len(response.json()["recommendations"])
        during += _import_open(engine, probe)  # all three answered, and the import is still open
    importer.join()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["report"].events.inserted == N_IMPORTED
    assert statuses and set(statuses) == {200}, statuses
    assert during >= 1, "no read answered while the import's transaction was open (they waited for it)"
    served_log = live.app.state.served_log
    deadline = time.monotonic() + 60
    while served_log.pending():
        assert time.monotonic() < deadline, "the queued lists were never written"
        time.sleep(0.05)
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT count(*) FROM served_recommendations")).scalar_one()
    assert logged == items  # every list served, none lost


@pytest.fixture
def locked_app(request: pytest.FixtureRequest, tmp_path: Path, live_app):  # noqa: ANN201
    """A SQLite app with short lock waits, an owner seeded, and ``hold()``: a second connection's write lock.

    Parametrize it indirectly with how long a queued list is kept (default 300 s).
    """
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}", lock_timeout=0.2)
    key = create_api_key(engine, "crm")
    live = live_app(Settings(data_dir=tmp_path / "store", served_log_wait_seconds=0.05,
                             served_log_keep_seconds=getattr(request, "param", 300.0)), engine)
    client = live.client(key)
    _seed(client, "o1")
    client.get("/v1/owners/o1/recommendations").raise_for_status()  # the key's last-used stamp: done now

    def hold() -> sqlite3.Connection:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's writer, past the busy timeout
        return other

    yield live, client, engine, hold
    engine.dispose()


def _outcomes(live) -> dict[str, float]:  # noqa: ANN001
    metrics = live.app.state.metrics.registry
    return {r: metrics.get_sample_value("introrank_served_lists_logged_total", {"result": r}) or 0.0
            for r in ("now", "queued", "written_late", "dropped")}


def _wait_for(condition, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_list_is_served_when_its_log_cannot_be_written_and_logged_once_the_store_is_free(locked_app) -> None:
    live, client, engine, hold = locked_app
    other = hold()
    try:
        listed = client.get("/v1/owners/o1/recommendations", params={"k": 3})
        assert listed.status_code == 200 and len(listed.json()["recommendations"]) == 3
        assert client.get("/v1/owners/o1/keep-warm").status_code == 200
        top = listed.json()["recommendations"][0]
        feedback = {"owner_id": "o1", "contact_id": top["contact_id"], "outcome": "contacted",
                    "recommendation_id": top["recommendation_id"]}
        assert client.post("/v1/feedback", json=feedback).status_code == 503  # writes: 503 at worst
        assert _outcomes(live)["queued"] == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert client.post("/v1/feedback", json=feedback).status_code == 201  # the queued list was written first
    assert _outcomes(live)["written_late"] == 1
    with engine.connect() as conn:
        served = conn.execute(text("SELECT recommendation_id FROM served_recommendations")).scalars().all()
    assert {r["recommendation_id"] for r in listed.json()["recommendations"]} <= set(served)


def test_a_late_log_counts_only_the_impressions_nothing_answered_since(locked_app) -> None:
    """A list queued while another writer stores an event of one served contact: that contact's impression
    was answered before the log went in, so live counters skip it, exactly as the as_of replay does."""
    live, client, engine, hold = locked_app
    with engine.connect() as conn:
        tenant_id = conn.execute(text("SELECT id FROM tenants WHERE name = 'crm'")).scalar_one()
        before = load_impressions(conn, tenant_id, "o1")
    other = hold()
    try:
        listed = client.get("/v1/owners/o1/recommendations", params={"k": 3}).json()["recommendations"]
        answered, shown = listed[0]["contact_id"], [r["contact_id"] for r in listed[1:]]
        other.execute("INSERT INTO events (tenant_id, event_id, owner_id, contact_id, occurred_at, type, "
                      "direction, received_at) VALUES (?, 'late-1', 'o1', ?, ?, 'message', 'in', ?)",
                      (tenant_id, answered, time.time(), time.time()))
        other.execute("COMMIT")
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    _wait_for(lambda: _outcomes(live)["written_late"] == 1, "the queued list was never written")
    with engine.connect() as conn:
        live_counts = load_impressions(conn, tenant_id, "o1")
        replay = impressions_as_of(conn, tenant_id, "o1", time.time() + 1)
    assert live_counts.get(answered, 0) == 0
    assert all(live_counts[c] == before.get(c, 0) + 1 for c in shown)
    assert {c: live_counts.get(c, 0) for c in [answered, *shown]} == {c: replay.get(c, 0)
                                                                    for c in [answered, *shown]}


@pytest.mark.parametrize("locked_app", [1.0], indirect=True)
def test_a_list_the_store_never_takes_is_dropped_counted_and_logged_without_names(locked_app, caplog) -> None:
    live, client, engine, hold = locked_app
    count = text("SELECT count(*) FROM served_recommendations")
    with engine.connect() as conn:
        logged = conn.execute(count).scalar_one()
    other = hold()
    try:
        assert client.get("/v1/owners/o1/recommendations").status_code == 200
        _wait_for(lambda: _outcomes(live)["dropped"] == 1, "a list kept past served_log_keep_seconds stays queued")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert live.app.state.served_log.pending() == 0
    with engine.connect() as conn:
        assert conn.execute(count).scalar_one() == logged
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "introrank.served_log"]
    assert len(lines) == 1 and '"reason": "kept too long"' in lines[0]
    assert SECRET not in lines[0] and "o1" not in lines[0]
