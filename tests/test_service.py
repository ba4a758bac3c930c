"""The service through real HTTP on SQLite and PostgreSQL: tenancy, ingestion, recommendations."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servicekit import load_through_api
from sqlalchemy import MetaData, select

from introrank.model.features import FEATURE_NAMES
from introrank.model.ranking import score_and_rank
from introrank.service.serving.candidates import candidate_features, load_contacts, load_owner
from introrank.service.settings import Settings
from introrank.service.store.aggregates import load_owner_states
from introrank.service.store.keys import create_api_key
from introrank.training.simulate import simulate_network, write_network
from introrank.training.snapshots import SnapshotConfig, build_snapshots

T_SPLIT = pd.Timestamp("2025-09-28", tz="UTC").timestamp()  # a cut on the 30-day grid


@pytest.fixture
def served(engine, model_store, live_app):
    """(base_url, tenant-A client, tenant-B client, admin client, engine) with a champion loaded."""
    live = live_app(Settings(data_dir=model_store.data_dir), engine)
    keys = [create_api_key(engine, "tenant-a"), create_api_key(engine, "tenant-b"),
            create_api_key(engine, "tenant-a", admin=True)]
    return live.base, *(live.client(k, bearer=True) for k in keys), engine


def _rows(engine, owner_id: str) -> dict[str, int]:
    metadata = MetaData()
    metadata.reflect(engine)
    counts = {}
    with engine.connect() as conn:
        for name, table in metadata.tables.items():
            if "owner_id" in table.c:
                counts[name] = len(conn.execute(select(table).where(table.c.owner_id == owner_id)).all())
    return counts


def test_auth_errors(served):
    base, a, *_ = served
    assert httpx.get(f"{base}/v1/owners/o0/recommendations").status_code == 401
    wrong = httpx.get(f"{base}/v1/owners/o0/recommendations", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"detail": "invalid API key"}
    assert a.post("/v1/admin/reload").status_code == 403


def test_tenant_isolation_both_ways(served, tiny):
    _, a, b, _, _ = served
    load_through_api(a, tiny)
    assert a.get("/v1/owners/o0/recommendations").status_code == 200
    other = b.get("/v1/owners/o0/recommendations")
    assert other.status_code == 404 and other.json() == {"detail": "owner not found"}
    assert b.delete("/v1/owners/o0/contacts/c0000").status_code == 404
    assert b.delete("/v1/owners/o0").status_code == 404
    b.put("/v1/owners/o0", json={"goal": "job_search"}).raise_for_status()  # B's own o0
    assert b.get("/v1/owners/o0/recommendations").json()["recommendations"] == []
    assert len(a.get("/v1/owners/o0/recommendations").json()["recommendations"]) > 0


def test_event_batches_are_idempotent_and_all_or_nothing(served, tiny, db_snapshot):
    _, a, _, _, engine = served
    load_through_api(a, tiny, before=T_SPLIT)
    later = tiny.events[tiny.events["occurred_at"] >= T_SPLIT].head(50)
    from servicekit import event_items

    items = event_items(later)
    first = a.post("/v1/events", json={"events": items})
    assert first.json() == {"inserted": 50, "duplicates": 0, "conflicts": []}
    assert a.post("/v1/events", json={"events": items}).json() == {"inserted": 0, "duplicates": 50, "conflicts": []}
    before = db_snapshot(engine)
    fresh = event_items(tiny.events[tiny.events["occurred_at"] >= T_SPLIT].iloc[50:60])
    naive = [*fresh[:5], {**fresh[5], "occurred_at": "2025-10-01T10:00:00"}, *fresh[6:]]
    bad = a.post("/v1/events", json={"events": naive})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "events", 5, "occurred_at"]
    unknown = [*fresh[:3], {**fresh[3], "contact_id": "nobody"}]
    bad = a.post("/v1/events", json={"events": unknown})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "events", 3, "contact_id"]
    assert db_snapshot(engine) == before


def test_online_features_equal_offline_features(served, tiny):
    """Parity: events posted out of order through the API, then features at the cut."""
    _, a, _, _, engine = served
    load_through_api(a, tiny, before=T_SPLIT, shuffle_seed=3, batch=700)
    offline = build_snapshots(tiny.events, tiny.owners, tiny.contacts, SnapshotConfig(), cuts=[T_SPLIT])
    with engine.connect() as conn:
        tenant_id = conn.exec_driver_sql("SELECT id FROM tenants WHERE name = 'tenant-a'").scalar_one()
        for owner_id in tiny.owners["owner_id"]:
            states = load_owner_states(conn, tenant_id, owner_id)
            online, rows, _ = candidate_features(states, load_owner(conn, tenant_id, owner_id),
                                                 load_contacts(conn, tenant_id, owner_id), T_SPLIT, None)
            online = online.set_axis(rows["contact_id"]).sort_index()
            expected = offline[offline["owner_id"] == owner_id].set_index("contact_id").sort_index()
            assert list(online.index) == list(expected.index)
            np.testing.assert_allclose(online[list(FEATURE_NAMES)].to_numpy(),
                                       expected[list(FEATURE_NAMES)].to_numpy(), rtol=1e-7, atol=1e-9)


def test_as_of_equals_offline_ranking(served, tiny, model_store):
    _, a, _, _, _ = served
    load_through_api(a, tiny)
    from introrank.service.store.model_registry import configure_tracking, load_champion

    ranker = load_champion(configure_tracking(model_store), None).ranker  # the base model serves the test tenants
    offline = build_snapshots(tiny.events, tiny.owners, tiny.contacts, SnapshotConfig(), cuts=[T_SPLIT])
    for owner_id in tiny.owners["owner_id"]:
        rows = offline[offline["owner_id"] == owner_id].reset_index(drop=True)
        contacts = rows[["contact_id"]].merge(tiny.contacts, on="contact_id", how="left")
        ranked = score_and_rank(ranker, rows[list(FEATURE_NAMES)], contacts["company"],
                                contacts["do_not_recommend"].eq("true"), k=10)
        body = a.get(f"/v1/owners/{owner_id}/recommendations",
                     params={"as_of": pd.Timestamp(T_SPLIT, unit="s", tz="UTC").isoformat(), "k": 10}).json()
        assert [r["contact_id"] for r in body["recommendations"]] == rows["contact_id"].iloc[
            [r.index for r in ranked]].tolist()
        assert [(r["reasons"], r["action"]["type"]) for r in body["recommendations"]] == [
            (r.reasons, r.action.type) for r in ranked]


def test_recommendation_body(served, tiny):
    _, a, _, _, _ = served
    load_through_api(a, tiny)
    body = a.get("/v1/owners/o1/recommendations", params={"k": 5}).json()
    assert set(body) >= {"owner_id", "as_of", "model_version", "recommendations"}
    assert body["model_version"] != "heuristic"
    items = body["recommendations"]
    assert [r["rank"] for r in items] == list(range(1, len(items) + 1)) and 0 < len(items) <= 5
    companies = tiny.contacts.set_index("contact_id").loc[[r["contact_id"] for r in items], "company"]
    assert companies[companies != ""].value_counts().max() <= 2
    for item in items:
        assert 0.0 <= item["probability"] <= 1.0
        assert 1 <= len(item["reasons"]) <= 3 and all(isinstance(s, str) and s for s in item["reasons"])
        assert item["action"]["type"] in {"ask", "give_first", "warm_up"} and item["action"]["reason"]
    goal = a.get("/v1/owners/o1/recommendations", params={"k": 5, "goal": "career_support"}).json()
    assert goal["goal"] == "career_support"


def _title_network(now: pd.Timestamp) -> tuple[dict, list[dict], list[dict]]:
    """An owner at stage 5 and contacts with one history each: a VP known only by title, and peers."""
    owner = {"career_stage": 5, "goal": "skill_building", "industry": "software"}
    contacts = [{"contact_id": "vp", "title": "VP Engineering", "company": "Initech", "industry": "software"}]
    contacts += [{"contact_id": f"peer{i}", "title": "Engineering Manager", "career_stage": 5,
                  "company": f"Peer Co {i}", "industry": "software"} for i in range(6)]
    events = [{"event_id": f"{c['contact_id']}-{k}", "owner_id": "tt", "contact_id": c["contact_id"],
               "occurred_at": (now - pd.Timedelta(days=days)).isoformat(), "type": kind, "direction": direction}
              for c in contacts for k, (days, kind, direction) in enumerate(
                  [(200, "meeting", "out"), (120, "message", "out"), (118, "message", "in"), (40, "give", "out"),
                   (12, "message", "out"), (11, "message", "in")])]
    return owner, contacts, events


def test_a_contact_known_only_by_title_gets_the_inferred_stage_reason(served):
    _, a, _, _, _ = served
    now = pd.Timestamp.now(tz="UTC").floor("s")
    owner, contacts, events = _title_network(now)
    assert a.put("/v1/owners/tt", json=owner).json()["title"] is None
    a.put("/v1/owners/tt/contacts", json={"contacts": contacts}).raise_for_status()
    a.post("/v1/events", json={"events": events}).raise_for_status()
    inferred = "They appear to be 2 career stages ahead of you (from their title)"
    stored = {r["contact_id"]: r["reasons"] for r in a.get("/v1/owners/tt/recommendations").json()["recommendations"]}
    assert any(inferred in s for s in stored["vp"])  # alone, or as what makes the goal fit
    assert not any("appear" in s for c, reasons in stored.items() if c != "vp" for s in reasons)
    # The stateless scorer reads the same title from the request body.
    body = {"owner": {"owner_id": "tt", **owner}, "contacts": contacts, "as_of": now.isoformat(),
            "events": [{k: v for k, v in e.items() if k != "owner_id"} for e in events]}
    scored = {r["contact_id"]: r["reasons"] for r in a.post("/v1/score", json=body).json()["recommendations"]}
    assert any(inferred in s for s in scored["vp"])
    # An owner known only by title too: both stages are read, and the sentence says so.
    a.put("/v1/owners/tt", json={**owner, "career_stage": None, "title": "Engineering Manager"}).raise_for_status()
    both = {r["contact_id"]: r["reasons"] for r in a.get("/v1/owners/tt/recommendations").json()["recommendations"]}
    assert any("They appear to be 2 career stages ahead of you (from your job titles)" in s for s in both["vp"])


def test_erasure_leaves_no_row_behind(served, tiny):
    _, a, _, _, engine = served
    load_through_api(a, tiny)
    a.get("/v1/owners/o2/recommendations").raise_for_status()  # served-list rows too
    contact = tiny.contacts[tiny.contacts["owner_id"] == "o1"]["contact_id"].iloc[0]
    assert a.delete(f"/v1/owners/o1/contacts/{contact}").status_code == 200
    assert a.delete(f"/v1/owners/o1/contacts/{contact}").status_code == 404
    assert sum(_rows(engine, "o2").values()) > 0
    assert a.delete("/v1/owners/o2").json() == {"deleted": True}
    assert _rows(engine, "o2") == dict.fromkeys(_rows(engine, "o2"), 0)
    assert a.get("/v1/owners/o2/recommendations").status_code == 404


def test_reload_under_concurrent_requests_has_no_errors(served, tiny):
    _, a, _, admin, _ = served
    load_through_api(a, tiny)
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(a.get("/v1/owners/o3/recommendations", params={"k": 5}).status_code)

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for w in workers:
        w.start()
    for _ in range(3):
        assert admin.post("/v1/admin/reload").status_code == 200
    stop.set()
    for w in workers:
        w.join()
    assert len(statuses) > 0 and set(statuses) == {200}


def test_body_over_limit_is_413(served):
    base, a, *_ = served
    big = {"events": [{"event_id": "x" * 100}] * 600_000}
    response = a.post("/v1/events", content=httpx.Request("POST", "/", json=big).content,
                      headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_readyz_says_once_the_base_model_is_compiled_and_its_machine_code_is_kept(served, model_store):
    import time

    base, *_ = served
    deadline = time.monotonic() + 120
    while not (ready := httpx.get(f"{base}/readyz").json())["compiled"] and time.monotonic() < deadline:
        time.sleep(0.2)  # compiling runs in the background; LightGBM scores the same meanwhile
    assert ready["compiled"] is True and ready["heuristic"] is False
    assert list((model_store.data_dir / "compiled").glob("*.o")), "no compiled model kept for other processes"


def test_heuristic_fallback_without_model(sqlite_engine, tmp_path: Path, tiny, live_app):
    key = create_api_key(sqlite_engine, "solo")
    with live_app(Settings(data_dir=tmp_path / "empty"), sqlite_engine) as live, \
            live.client(key, bearer=True) as client:
        base = live.base
        load_through_api(client, tiny)
        body = client.get("/v1/owners/o0/recommendations").json()
        assert body["model_version"] == "heuristic" and len(body["recommendations"]) > 0
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["heuristic"] is True and "no model trained" in ready["problem"] and ready["compiled"] is False
        assert client.get("/v1/model").json()["heuristic"] is True


def test_startup_heap_is_frozen_out_of_the_collector_while_serving(sqlite_engine, tmp_path: Path, live_app):
    import gc

    with live_app(Settings(data_dir=tmp_path / "empty"), sqlite_engine) as live:
        assert httpx.get(f"{live.base}/healthz").status_code == 200
        assert gc.get_freeze_count() > 100_000  # the libraries and the app, not a handful of objects
    assert gc.get_freeze_count() == 0


def test_csv_import_builds_the_same_aggregates_as_the_api(engine, tiny, tmp_path):
    """Bulk import and streaming ingestion are two writers of one aggregate definition."""
    from introrank.model.aggregates import SCALAR_FIELDS
    from introrank.service.store.aggregates import load_owner_states, states_from_events
    from introrank.service.store.csv_import import import_csvs
    from introrank.service.store.tables import Event

    folder = tmp_path / "csv"
    write_network(simulate_network(n_owners=2, seed=4, months=8), folder)
    import_csvs(engine, tenant="imp", owners=folder / "owners.csv", contacts=folder / "contacts.csv",
                events=folder / "events.csv")
    with engine.connect() as conn:
        tenant_id = conn.exec_driver_sql("SELECT id FROM tenants WHERE name = 'imp'").scalar_one()
        columns = [Event.owner_id, Event.contact_id, Event.occurred_at, Event.type, Event.direction, Event.useful]
        events = pd.DataFrame(conn.execute(select(*columns).where(Event.tenant_id == tenant_id)).all(),
                              columns=[c.key for c in columns])
        expected = states_from_events(events[events["owner_id"] == "o0"])
        stored = load_owner_states(conn, tenant_id, "o0")
    order = stored.pairs["contact_id"].argsort().to_numpy()
    want = expected.pairs["contact_id"].argsort().to_numpy()
    stored_ids = stored.pairs["contact_id"].to_numpy()[order].tolist()
    assert stored_ids == expected.pairs["contact_id"].to_numpy()[want].tolist()
    for field in SCALAR_FIELDS:
        np.testing.assert_allclose(stored.scalars[field][order], expected.scalars[field][want], rtol=1e-9,
                                   equal_nan=True, err_msg=field)


def test_logs_carry_no_contact_names_or_free_text(sqlite_engine, tmp_path, capfd, live_app):
    """JSON logs with request ids, and never a name: PII stays out of every log line."""
    key = create_api_key(sqlite_engine, "pii")
    secret_name = "Zelda Quixotic-Pseudonym"
    with live_app(Settings(data_dir=tmp_path / "store", log_level="DEBUG"), sqlite_engine) as live, \
            live.client(key, bearer=True) as client:
        client.put("/v1/owners/u1", json={"goal": "job_search"}).raise_for_status()
        client.put("/v1/owners/u1/contacts/c1", json={"name": secret_name, "company": "Acme"}).raise_for_status()
        client.post("/v1/events", json={"events": [
            {"event_id": "e1", "owner_id": "u1", "contact_id": "c1", "occurred_at": "2026-01-01T10:00:00Z",
             "type": "message", "direction": "out"}]}).raise_for_status()
        client.get("/v1/owners/u1/recommendations").raise_for_status()
        client.put("/v1/owners/u1/contacts/c2", json={"name": secret_name, "career_stage": 99})  # a 422
    logs = capfd.readouterr().err
    lines = [line for line in logs.splitlines() if line.startswith("{")]
    assert lines, "expected JSON log lines"
    assert all('"request_id"' in line for line in lines)
    assert "Quixotic" not in logs and "Zelda" not in logs
