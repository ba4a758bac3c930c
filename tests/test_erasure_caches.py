"""Cache validity never repeats: an owner erased and created again to the same revision counters
serves nothing of its erased incarnation, on any replica, and an erasure empties the caches of the
process that ran it at once. Through the real app over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from introrank.service.schemas import ContactItem, EventIn, OwnerUpsert
from introrank.service.serving.model_holder import heuristic
from introrank.service.serving.recommend import log_served, recommend
from introrank.service.settings import Settings
from introrank.service.store.concurrency import run_write
from introrank.service.store.engine import get_or_create_tenant, write_connection
from introrank.service.store.keys import create_api_key
from introrank.service.store.tables import Owner, ServedRecommendation
from introrank.service.store.writes import delete_contact, delete_owner, insert_events, upsert_contacts, upsert_owner

OWNER = "o1"
N = 30
FLAGGED = 10  # the first ten contacts of the second incarnation are do_not_recommend
MAX_PER_COMPANY = 2
NOW = datetime.now(UTC).replace(microsecond=0)


def _contacts(prefix: str, second: bool) -> list[dict]:
    """The first incarnation: everybody two stages ahead, at a targeted or an own company, none flagged.
    The second: the same or other ids, at the owner's stage, at two companies, the first ten flagged."""
    if not second:
        return [{"contact_id": f"{prefix}{i:02d}", "company": "Acme" if i < 10 else f"first-co-{i}",
                 "career_stage": 4, "do_not_recommend": False} for i in range(N)]
    return [{"contact_id": f"{prefix}{i:02d}", "company": "Beta" if i % 2 else "Gamma", "career_stage": 2,
             "do_not_recommend": i < FLAGGED} for i in range(N)]


def _events(prefix: str, tag: str) -> list[dict]:
    """The same history for both incarnations (other event ids): three events per contact."""
    kinds = [("message", "in"), ("meeting", "out"), ("intro", "in")]
    return [{"event_id": f"{tag}-{i}-{j}", "owner_id": OWNER, "contact_id": f"{prefix}{i:02d}",
             "occurred_at": (NOW - timedelta(days=5 + 3 * i + 20 * j)).isoformat(), "type": kind,
             "direction": direction} for i in range(N) for j, (kind, direction) in enumerate(kinds)]


def _incarnation(client: httpx.Client, prefix: str, second: bool, tag: str) -> list[dict]:
    """One fixed sequence of calls: owner, contacts, events, two lists. Returns the lists."""
    owner = {"goal": "job_search", "career_stage": 2, "target_companies": ["Acme"]}
    client.put(f"/v1/owners/{OWNER}", json=owner).raise_for_status()
    client.put(f"/v1/owners/{OWNER}/contacts", json={"contacts": _contacts(prefix, second)}).raise_for_status()
    client.post("/v1/events", json={"events": _events(prefix, tag)}).raise_for_status()
    return [_list(client) for _ in range(2)]


def _list(client: httpx.Client, **params: object) -> dict:
    response = client.get(f"/v1/owners/{OWNER}/recommendations", params={"k": 10, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _counters(engine: Engine) -> tuple[str, int, int, int]:
    with engine.connect() as conn:
        row = conn.execute(select(Owner.incarnation, Owner.profile_revision, Owner.state_revision,
                                  Owner.impression_revision).where(Owner.owner_id == OWNER)).one()
    return tuple(row)


def _cached_owners(app) -> set[tuple]:  # noqa: ANN001 - the FastAPI app of a LiveApp
    return {key[:2] for cache in (app.state.profiles, app.state.scores) for key in cache.keys()}


@pytest.mark.parametrize("second_prefix", ["c", "n"], ids=["same-ids-other-people", "other-ids"])
def test_a_recreated_owner_serves_nothing_of_its_erased_incarnation(engine: Engine, model_store, live_app,
                                                                     second_prefix: str) -> None:
    settings = Settings(data_dir=model_store.data_dir, score_cache_seconds=3600, profile_cache_seconds=3600)
    key = create_api_key(engine, "crm", admin=True)
    replica_a, replica_b = live_app(settings, engine), live_app(settings, engine)
    a, b = replica_a.client(key), replica_b.client(key)
    # no impression discount: a list's order depends only on the stored data, so a backtest can check it
    a.put("/v1/admin/policy", json={"impression_decay": 1.0, "max_per_company": MAX_PER_COMPANY}).raise_for_status()

    first = _incarnation(a, "c", second=False, tag="one")
    assert first[0]["recommendations"] and first[1]["as_of"] == first[0]["as_of"]  # A cached the list
    before = _counters(engine)
    tenant_id = replica_a.app.state.scores.keys()[0][0]
    assert (tenant_id, OWNER) in _cached_owners(replica_a.app)

    # erased and created again through the other replica: A's caches still hold the erased incarnation
    assert b.delete(f"/v1/owners/{OWNER}").status_code == 200
    recreated_at = time.time()
    _incarnation(b, second_prefix, second=True, tag="two")
    after = _counters(engine)
    assert after[1:] == before[1:] and after[0] != before[0]  # the same revision counters, another incarnation
    assert (tenant_id, OWNER) in _cached_owners(replica_a.app)

    listed = _list(a)  # no 500: the log of this list went through
    assert pd.Timestamp(listed["as_of"]).timestamp() >= recreated_at - 1  # scored anew, not the erased entry
    served = [item["contact_id"] for item in listed["recommendations"]]
    eligible = {c["contact_id"] for c in _contacts(second_prefix, second=True) if not c["do_not_recommend"]}
    companies = {c["contact_id"]: c["company"] for c in _contacts(second_prefix, second=True)}
    assert served and set(served) <= eligible  # no erased contact, no flagged one
    assert max(Counter(companies[c] for c in served).values()) <= MAX_PER_COMPANY  # today's companies
    assert not any("ahead of you" in reason for item in listed["recommendations"] for reason in item["reasons"])
    # exactly the model's answer on the new incarnation's data: a backtest at its time on the other replica
    replay = _list(b, as_of=listed["as_of"])
    assert [it["contact_id"] for it in replay["recommendations"]] == served
    for mine, theirs in zip(listed["recommendations"], replay["recommendations"], strict=True):
        assert mine["probability"] == pytest.approx(theirs["probability"], abs=1e-9)
        assert mine["reasons"] == theirs["reasons"] and mine["action"] == theirs["action"]

    with engine.connect() as conn:  # every logged item is of the new incarnation
        logged = list(conn.execute(select(ServedRecommendation.contact_id).where(
            ServedRecommendation.owner_id == OWNER)).scalars())
    assert set(logged) <= eligible and len(logged) >= len(served) * 3
    feedback = {"owner_id": OWNER, "contact_id": served[0], "outcome": "contacted",
                "recommendation_id": listed["recommendations"][0]["recommendation_id"]}
    assert a.post("/v1/feedback", json=feedback).status_code == 201

    # a contact erased on A leaves A's caches and lists at once
    gone = served[0]
    assert a.delete(f"/v1/owners/{OWNER}/contacts/{gone}").status_code == 200
    assert (tenant_id, OWNER) not in _cached_owners(replica_a.app)
    assert gone not in [item["contact_id"] for item in _list(a)["recommendations"]]
    # and the owner erased on A: nothing of it stays in A's caches
    assert a.delete(f"/v1/owners/{OWNER}").status_code == 200
    assert (tenant_id, OWNER) not in _cached_owners(replica_a.app)
    assert a.get(f"/v1/owners/{OWNER}/recommendations").status_code == 404


def test_a_list_ranked_before_an_erasure_logs_nothing_of_it(engine: Engine) -> None:
    """The log write checks the owner it locks is the incarnation the list was ranked from."""

    with write_connection(engine) as conn:
        tenant_id = get_or_create_tenant(conn, "crm")

    def create(conn) -> None:  # noqa: ANN001
        upsert_owner(conn, tenant_id, OWNER, OwnerUpsert(goal="job_search"))
        upsert_contacts(conn, tenant_id, OWNER, [ContactItem(contact_id=f"c{i}") for i in range(3)])
        insert_events(conn, tenant_id, [EventIn(event_id=f"e{i}", owner_id=OWNER, contact_id=f"c{i}",
                                                occurred_at=NOW - timedelta(days=i + 1), type="message",
                                                direction="in") for i in range(3)])

    served = heuristic("no model in this test")
    run_write(engine, create)
    with engine.connect() as conn:
        ranked = recommend(conn, tenant_id, OWNER, served, 3)
    assert len(ranked.items) == 3
    run_write(engine, lambda conn: delete_contact(conn, tenant_id, OWNER, ranked.items[0].contact_id))
    assert run_write(engine, lambda conn: log_served(conn, tenant_id, ranked)) is not None  # the others are logged
    run_write(engine, lambda conn: delete_owner(conn, tenant_id, OWNER))
    run_write(engine, create)  # the same ids again: another incarnation, other people
    assert run_write(engine, lambda conn: log_served(conn, tenant_id, ranked)) is None
    with engine.connect() as conn:
        assert conn.execute(select(ServedRecommendation.contact_id)).all() == []
