"""Concurrent writers on PostgreSQL: no 5xx, no lost update, live features equal the replay of the stored events.

A CRM syncs with parallel workers: batches for the same owner's contacts arrive at
once, on several server processes, in any pair order.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from servicekit import free_port
from sqlalchemy import Engine, text

from introrank.model.features import FEATURE_NAMES
from introrank.service.serving.candidates import candidate_features, load_contacts, load_owner, replay_states
from introrank.service.settings import Settings
from introrank.service.store.aggregates import load_owner_states
from introrank.service.store.concurrency import run_write
from introrank.service.store.engine import get_or_create_tenant
from introrank.service.store.keys import create_api_key
from introrank.service.store.tables import Owner

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]
N_CONTACTS = 20
NOW = time.time()


def _tenant_id(conn, name: str) -> int:  # noqa: ANN001
    return conn.execute(text("SELECT id FROM tenants WHERE name = :n"), {"n": name}).scalar_one()


def assert_live_equals_replay(engine: Engine, tenant: str, owner_id: str) -> int:
    """The stored aggregates' features equal those of an ``as_of`` replay of every stored event.

    Returns how many contacts were compared. Lost or doubled updates change counts,
    recency or windows, so any of them shows here.
    """
    at = time.time() + 1.0
    with engine.connect() as conn:
        tenant_id = _tenant_id(conn, tenant)
        owner, contacts = load_owner(conn, tenant_id, owner_id), load_contacts(conn, tenant_id, owner_id)
        live, live_rows, _ = candidate_features(load_owner_states(conn, tenant_id, owner_id), owner, contacts, at,
                                                None)
        replay, replay_rows, _ = candidate_features(replay_states(conn, tenant_id, owner_id, at), owner, contacts,
                                                    at, None)
    assert live_rows["contact_id"].tolist() == replay_rows["contact_id"].tolist()
    np.testing.assert_allclose(live[list(FEATURE_NAMES)].to_numpy(), replay[list(FEATURE_NAMES)].to_numpy(),
                               rtol=1e-9, atol=1e-9)
    return len(live_rows)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _event(event_id: str, owner_id: str, contact_id: str, rng: random.Random) -> dict:
    kind = rng.choice(["message", "message", "meeting", "ask", "give", "intro"])
    return {"event_id": event_id, "owner_id": owner_id, "contact_id": contact_id,
            "occurred_at": _iso(NOW - rng.uniform(0, 200) * 86400), "type": kind,
            "direction": rng.choice(["in", "out"]),
            "useful": rng.choice([True, False]) if kind == "intro" else None}


def _setup_owner(client: httpx.Client, owner_id: str, n: int = N_CONTACTS) -> list[str]:
    client.put(f"/v1/owners/{owner_id}", json={"goal": "job_search"}).raise_for_status()
    contacts = [f"c{i:02d}" for i in range(n)]
    client.put(f"/v1/owners/{owner_id}/contacts",
               json={"contacts": [{"contact_id": c, "company": f"co{i % 7}"} for i, c in enumerate(contacts)]}
               ).raise_for_status()
    return contacts


def _pg_url(engine: Engine) -> str:
    """A URL for another process that lands in this test's schema."""
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    url = engine.url.render_as_string(hide_password=False).split("?")[0]
    return f"{url}?options={quote(f'-csearch_path={schema}')}"


def _serve(tmp_path: Path, engine: Engine, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INTRORANK_DATABASE_URL": _pg_url(engine),
           "INTRORANK_DATA_DIR": str(tmp_path / "served"), "INTRORANK_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "introrank.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"introrank serve exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("introrank serve did not become ready")


@pytest.mark.slow
def test_parallel_batches_for_one_owner_on_two_workers_lose_nothing(pg_engine, tmp_path):
    """8 threads x 6 batches of 120 events for the same 20 contacts, each in its own pair order, while
    lists are served (every list is a write too): no 5xx, every event stored once, live equals replay."""
    key = create_api_key(pg_engine, "crm")
    proc, base = _serve(tmp_path, pg_engine, workers=2)
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as client:
            contacts = _setup_owner(client, "o1")

            def sender(worker: int) -> list[int]:
                rng = random.Random(worker)
                codes, batches = [], []
                with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as own:
                    for b in range(6):
                        order = rng.sample(contacts, len(contacts))
                        batch = [_event(f"w{worker}-b{b}-{i}", "o1", order[i % len(order)], rng) for i in range(120)]
                        batches.append(batch)
                        codes.append(own.post("/v1/events", json={"events": batch}).status_code)
                    replayed = own.post("/v1/events", json={"events": batches[0]})  # a client's retry
                    codes.append(replayed.status_code)
                    assert replayed.json() == {"inserted": 0, "duplicates": 120, "conflicts": []}
                return codes

            def reader() -> list[int]:
                with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as own:
                    return [own.get("/v1/owners/o1/recommendations", params={"k": 5}).status_code for _ in range(15)]

            with ThreadPoolExecutor(10) as pool:
                futures = [pool.submit(sender, w) for w in range(8)] + [pool.submit(reader) for _ in range(2)]
                codes = [c for f in futures for c in f.result()]
        assert codes.count(200) == len(codes), sorted(set(codes))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 8 * 6 * 120
    assert assert_live_equals_replay(pg_engine, "crm", "o1") == N_CONTACTS


def test_batches_touching_the_same_pairs_in_opposite_orders_complete(pg_engine, tmp_path, live_app):
    """Two owners' pairs, forwards in one batch and backwards in the other, sent at the same instant
    (some event ids in both): the owner locks order them, so no deadlock and no 5xx."""
    key = create_api_key(pg_engine, "crm")
    base = live_app(Settings(data_dir=tmp_path / "store"), engine=pg_engine).base
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        pairs = [(o, c) for o in ("o1", "o2") for c in _setup_owner(client, o, 10)]
        rng = random.Random(5)
        barrier = threading.Barrier(2)

        def send(batch: list[dict]) -> int:
            barrier.wait(timeout=30)
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as own:
                return own.post("/v1/events", json={"events": batch}).status_code

        codes = []
        for round_ in range(8):
            forwards = [_event(f"r{round_}-f{i}", o, c, rng) for i, (o, c) in enumerate(pairs * 5)]
            shared = [_event(f"r{round_}-s{i}", o, c, rng) for i, (o, c) in enumerate(pairs)]
            backwards = [_event(f"r{round_}-b{i}", o, c, rng) for i, (o, c) in enumerate(reversed(pairs * 5))]
            with ThreadPoolExecutor(2) as pool:
                codes += list(pool.map(send, [forwards + shared, shared[::-1] + backwards]))
    assert codes == [200] * 16
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 8 * (100 + 20 + 100)
    for owner_id in ("o1", "o2"):
        assert assert_live_equals_replay(pg_engine, "crm", owner_id) == 10


def test_a_deadlocked_write_is_run_again_and_commits_once(pg_engine):
    """Two writers that bypass the owner locks and update two rows in opposite orders deadlock for real;
    PostgreSQL aborts one, run_write runs it again, and each update lands exactly once."""
    with pg_engine.begin() as conn:
        tenant_id = get_or_create_tenant(conn, "t")
        conn.execute(Owner.__table__.insert(), [{"tenant_id": tenant_id, "owner_id": o, "goal": "job_search"}
                                                for o in ("a", "b")])
    barrier, runs = threading.Barrier(2), {"ab": 0, "ba": 0}

    def writer(first: str, second: str) -> None:
        def work(conn) -> None:  # noqa: ANN001
            runs[first + second] += 1
            bump = text("UPDATE owners SET state_revision = state_revision + 1 WHERE owner_id = :o")
            conn.execute(bump, {"o": first})
            if runs[first + second] == 1:
                barrier.wait(timeout=30)  # both hold their first row: the second update closes the cycle
            conn.execute(bump, {"o": second})

        run_write(pg_engine, work)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(writer, "a", "b"), pool.submit(writer, "b", "a")]:
            future.result()
    assert sorted(runs.values()) == [1, 2]  # one of them was the deadlock victim and ran again
    with pg_engine.connect() as conn:
        revisions = dict(conn.execute(text("SELECT owner_id, state_revision FROM owners")).all())
    assert revisions == {"a": 2, "b": 2}
