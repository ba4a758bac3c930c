"""Unanswered impressions have one definition: the live counter, and ``as_of`` replaying it exactly."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from servicekit import event_items, load_through_api
from sqlalchemy import select

from introrank.service.settings import Settings
from introrank.service.store.csv_import import import_csvs
from introrank.service.store.impressions import impressions_as_of, load_impressions
from introrank.service.store.keys import create_api_key
from introrank.service.store.tables import Event

OWNER = "o2"


@pytest.fixture
def uncached(engine, model_store, tiny, live_app):
    """Scores every request afresh, so a live list's ``as_of`` is when its impressions were read."""
    live = live_app(Settings(data_dir=model_store.data_dir, score_cache_seconds=0), engine)
    key = create_api_key(engine, "crm", admin=True)
    with live.client(key) as client:
        load_through_api(client, tiny)
        client.put("/v1/admin/policy", json={"impression_decay": 0.5}).raise_for_status()
        with engine.connect() as conn:
            tenant_id = conn.exec_driver_sql("SELECT id FROM tenants WHERE name = 'crm'").scalar_one()
        yield client, engine, tenant_id


def _list(client: httpx.Client, **params) -> dict:
    response = client.get(f"/v1/owners/{OWNER}/recommendations", params={"k": 10, **params})
    response.raise_for_status()
    return response.json()


def _ids(body: dict) -> list[str]:
    return [r["contact_id"] for r in body["recommendations"]]


def _iso(ts: float) -> str:
    return pd.Timestamp(ts, unit="s", tz="UTC").isoformat()


def test_as_of_at_a_live_list_replays_its_impressions(uncached):
    """A late event and feedback dated in the past answer impressions when they arrive, live and replayed."""
    client, engine, tenant_id = uncached
    first = _list(client)
    for _ in range(3):
        _list(client)
    late, judged = _ids(first)[0], _ids(first)[1]
    started = pd.Timestamp(first["as_of"]).timestamp()
    event = {"event_id": "late-1", "owner_id": OWNER, "contact_id": late, "type": "message", "direction": "in",
             "occurred_at": _iso(started - 3600)}  # happened before the lists, arrives after them
    client.post("/v1/events", json={"events": [event]}).raise_for_status()
    client.post("/v1/feedback", json={"owner_id": OWNER, "contact_id": judged, "outcome": "contacted",
                                      "occurred_at": _iso(started - 30 * 86400)}).raise_for_status()
    with engine.connect() as conn:
        counters = load_impressions(conn, tenant_id, OWNER)
    assert late not in counters and judged not in counters and len(counters) >= 3
    live = _list(client)
    with engine.connect() as conn:
        replayed = impressions_as_of(conn, tenant_id, OWNER, pd.Timestamp(live["as_of"]).timestamp())
    assert replayed == counters
    backtest = _list(client, as_of=live["as_of"])
    assert _ids(backtest) == _ids(live)
    for x, y in zip(backtest["recommendations"], live["recommendations"], strict=True):
        assert x["probability"] == pytest.approx(y["probability"], abs=1e-9)


def test_recomputing_aggregates_answers_only_the_pairs_that_received_something(uncached, tmp_path):
    """A judged intro and a CSV import rebuild every aggregate of the owner; only their own pairs are answered."""
    client, engine, tenant_id = uncached
    for _ in range(3):
        shown = _ids(_list(client))
    with engine.connect() as conn:
        before = load_impressions(conn, tenant_id, OWNER)
        intro = conn.execute(select(Event.event_id, Event.contact_id).where(
            Event.tenant_id == tenant_id, Event.owner_id == OWNER, Event.type.in_(["intro", "referral"]),
            Event.contact_id.in_(shown))).first()
    assert intro is not None and len(before) >= 3
    client.post("/v1/feedback", json={"owner_id": OWNER, "contact_id": intro.contact_id, "outcome": "not_useful",
                                      "event_id": intro.event_id}).raise_for_status()
    imported = next(c for c in before if c != intro.contact_id)
    events = pd.DataFrame([{"event_id": "csv-1", "owner_id": OWNER, "contact_id": imported,
                            "occurred_at": pd.Timestamp.now(tz="UTC").timestamp() - 86400, "type": "meeting",
                            "direction": "out", "useful": ""}])
    item = event_items(events)[0]
    path = tmp_path / "events.csv"
    pd.DataFrame([{**item, "useful": ""}]).to_csv(path, index=False)
    import_csvs(engine, "crm", events=path)
    with engine.connect() as conn:
        after = load_impressions(conn, tenant_id, OWNER)
        replayed = impressions_as_of(conn, tenant_id, OWNER, pd.Timestamp.now(tz="UTC").timestamp())
    expected = {c: n for c, n in before.items() if c not in (intro.contact_id, imported)}
    assert after == expected and expected
    assert replayed == after
