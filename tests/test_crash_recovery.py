"""kill -9 of ``introrank serve`` in the middle of a stream of batches, a restart, a replay of everything.

What a CRM sees when the host dies under it: every batch it got a 200 for is stored
(it comes back as duplicates), the batch in flight is stored whole or not at all,
the rest are inserted by the replay, and the count is exact. The aggregates folded
in each batch's transaction equal an ``as_of`` replay of the stored events, so no
fold was lost or doubled by the crash. On SQLite (WAL recovery) and PostgreSQL
(the server's connections die with it).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from servicekit import ServedProcess, assert_live_equals_replay
from sqlalchemy import text

from introrank.service.store.keys import create_api_key

N_BATCHES, BATCH = 100, 1000
OWNERS = {"o1": [f"c{i:02d}" for i in range(25)], "o2": [f"c{i:02d}" for i in range(25)]}
KILL_AFTER = N_BATCHES // 3  # acknowledged batches before the kill
KINDS = ["message", "message", "meeting", "ask", "give", "intro", "touch", "referral"]


def _batches(now: float) -> list[list[dict]]:
    rng = random.Random(9)
    pairs = [(o, c) for o, contacts in OWNERS.items() for c in contacts]
    batches = []
    for b in range(N_BATCHES):
        batch = []
        for i in range(BATCH):
            owner, contact = rng.choice(pairs)
            kind = rng.choice(KINDS)
            at = datetime.fromtimestamp(now - rng.uniform(0, 300) * 86400, UTC).isoformat()  # out of order
            batch.append({"event_id": f"b{b}-{i}", "owner_id": owner, "contact_id": contact, "occurred_at": at,
                          "type": kind, "direction": rng.choice(["in", "out"]),
                          "useful": rng.choice([True, False]) if kind == "intro" else None})
        batches.append(batch)
    return batches


class Stream(threading.Thread):
    """Posts the batches one after the other until the server stops answering."""

    def __init__(self, base: str, key: str, batches: list[list[dict]]) -> None:
        super().__init__(daemon=True)
        self.base, self.key, self.batches = base, key, batches
        self.acknowledged: dict[int, dict] = {}
        self.in_flight: int | None = None  # the batch whose answer the kill cut off

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers={"X-API-Key": self.key}, timeout=120) as client:
            for b, batch in enumerate(self.batches):
                try:
                    response = client.post("/v1/events", json={"events": batch})
                except httpx.TransportError:
                    self.in_flight = b
                    return
                assert response.status_code == 200, response.text
                self.acknowledged[b] = response.json()


@pytest.mark.slow
def test_kill_9_mid_stream_then_replay_everything_stores_each_event_once(engine, tmp_path):
    key = create_api_key(engine, "crm")
    batches = _batches(time.time())
    with ServedProcess(tmp_path, engine) as served:
        with httpx.Client(base_url=served.base, headers={"X-API-Key": key}, timeout=60) as client:
            for owner, contacts in OWNERS.items():
                client.put(f"/v1/owners/{owner}", json={"goal": "job_search"}).raise_for_status()
                client.put(f"/v1/owners/{owner}/contacts", json={"contacts": [
                    {"contact_id": c, "company": f"co{i % 5}"} for i, c in enumerate(contacts)]}).raise_for_status()
        stream = Stream(served.base, key, batches)
        stream.start()
        while len(stream.acknowledged) < KILL_AFTER and stream.is_alive():
            time.sleep(0.01)
        served.kill()
        stream.join(timeout=120)
    assert not stream.is_alive()
    assert KILL_AFTER <= len(stream.acknowledged) < N_BATCHES, "the kill came too late to test anything"
    assert all(r == {"inserted": BATCH, "duplicates": 0, "conflicts": []} for r in stream.acknowledged.values())
    acknowledged = sorted(stream.acknowledged)
    assert acknowledged == list(range(len(acknowledged)))  # one client, in order: a prefix

    with ServedProcess(tmp_path, engine) as restarted:
        with httpx.Client(base_url=restarted.base, headers={"X-API-Key": key}, timeout=120) as client:
            replies = [client.post("/v1/events", json={"events": batch}) for batch in batches]
            assert {r.status_code for r in replies} == {200}
            replies = [r.json() for r in replies]
            again = [client.post("/v1/events", json={"events": batch}).json() for batch in batches[:3]]
            lists = [client.get(f"/v1/owners/{owner}/recommendations").status_code for owner in OWNERS]
    assert lists == [200] * len(OWNERS)

    for b, reply in enumerate(replies):
        assert reply["conflicts"] == [], (b, reply["conflicts"][:3])
        assert reply["inserted"] + reply["duplicates"] == BATCH, (b, reply)
        if b in stream.acknowledged:
            assert reply["duplicates"] == BATCH, (b, reply)  # acknowledged: stored before the kill
        elif b == stream.in_flight:
            assert reply["inserted"] in (0, BATCH), (b, reply)  # committed whole or not at all
        else:
            assert reply["inserted"] == BATCH, (b, reply)  # never reached the server
    assert again == [{"inserted": 0, "duplicates": BATCH, "conflicts": []}] * 3
    stored_by_replay = sum(r["inserted"] for r in replies)
    assert stored_by_replay + BATCH * len(stream.acknowledged) in (N_BATCHES * BATCH, N_BATCHES * BATCH - BATCH)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == N_BATCHES * BATCH
        assert conn.execute(text("SELECT count(DISTINCT event_id) FROM events")).scalar_one() == N_BATCHES * BATCH
    for owner, contacts in OWNERS.items():
        assert assert_live_equals_replay(engine, "crm", owner) == len(contacts)
