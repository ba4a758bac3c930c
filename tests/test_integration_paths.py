"""The CRM paths beyond the recommend call: stateless scoring, keep-warm, impressions, feedback, retraining."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from servicekit import contact_item, event_items, load_through_api, owner_body
from sqlalchemy import select

from introrank.model.keep_warm import AGE_DAYS, MIN_QUIET_DAYS
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key
from introrank.service.store.tables import Event, PairAggregate
from introrank.training.datasets import load_csv_dir
from introrank.training.simulate import simulate_network, write_network

T = pd.Timestamp("2025-09-28", tz="UTC").timestamp()
ISO_T = pd.Timestamp(T, unit="s", tz="UTC").isoformat()


@pytest.fixture
def app_client(sqlite_engine, model_store, live_app):
    live = live_app(Settings(data_dir=model_store.data_dir), sqlite_engine)
    return live.client(create_api_key(sqlite_engine, "crm", admin=True)), sqlite_engine


def _score_body(tiny, owner_id: str, as_of: str | None) -> dict:
    owner = tiny.owners.set_index("owner_id").loc[owner_id]
    contacts = tiny.contacts[tiny.contacts["owner_id"] == owner_id]
    events = tiny.events[tiny.events["owner_id"] == owner_id]
    items = [{k: v for k, v in e.items() if k != "owner_id"} for e in event_items(events)]
    body = {"owner": {"owner_id": owner_id, **owner_body(owner)},
            "contacts": [contact_item(r) for _, r in contacts.iterrows()], "events": items, "k": 10}
    if as_of:
        body["as_of"] = as_of
    return body


def test_stateless_score_agrees_with_stateful(app_client, tiny):
    client, engine = app_client
    load_through_api(client, tiny)
    with engine.connect() as conn:
        stored_before = conn.execute(select(Event.id)).all()
    for as_of in (ISO_T, None):
        stateful = client.get("/v1/owners/o1/recommendations", params={"k": 10, **({"as_of": as_of} if as_of else {})})
        stateless = client.post("/v1/score", json=_score_body(tiny, "o1", as_of))
        assert stateless.status_code == 200, stateless.text
        a, b = stateful.json()["recommendations"], stateless.json()["recommendations"]
        assert [r["contact_id"] for r in a] == [r["contact_id"] for r in b] and len(a) > 0
        for x, y in zip(a, b, strict=True):
            assert x["probability"] == pytest.approx(y["probability"], abs=1e-6)
            assert x["action"] == y["action"]
    with engine.connect() as conn:
        assert conn.execute(select(Event.id)).all() == stored_before  # nothing stored


def test_stateless_rejects_event_of_unknown_contact(app_client, tiny):
    client, _ = app_client
    body = _score_body(tiny, "o1", ISO_T)
    body["events"][3]["contact_id"] = "stranger"
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "events", 3, "contact_id"]


def _keep_warm(client, as_of: float) -> list[str]:
    iso = pd.Timestamp(as_of, unit="s", tz="UTC").isoformat()
    body = client.get("/v1/owners/o0/keep-warm", params={"k": 100, "as_of": iso}).json()
    for item in body["keep_warm"]:
        assert item["at_stake"] > 0 and item["touch"] and item["goes_cold_on"] >= iso[:10]
    return [item["contact_id"] for item in body["keep_warm"]]


def test_keep_warm_touched_tie_leaves_and_returns_as_it_cools(app_client, tiny):
    client, _ = app_client
    load_through_api(client, tiny, before=T)
    listed = _keep_warm(client, T)
    assert listed, "expected cooling ties on the keep-warm list"
    top = listed[0]
    touch = {"event_id": "touch-now", "owner_id": "o0", "contact_id": top, "type": "touch", "direction": "out",
             "occurred_at": pd.Timestamp(T - 3600, unit="s", tz="UTC").isoformat()}
    assert client.post("/v1/events", json={"events": [touch]}).json()["inserted"] == 1
    assert top not in _keep_warm(client, T)  # just touched: no reminder needed
    # It comes back once the touch has cooled: when exactly is the trained model's call, so look at every
    # day of the following month. A coarse model can let the whole value go in one step inside the quiet
    # week (no reminder is due then); the tie may stay off the list only if nothing is left at stake.
    back = [days for days in range(1, 31) if top in _keep_warm(client, T + days * 86400)]
    if not back:
        first_quiet = T + (MIN_QUIET_DAYS + 1) * 86400
        assert _probability(client, top, first_quiet) == pytest.approx(
            _probability(client, top, first_quiet + AGE_DAYS * 86400), abs=1e-6), "at stake yet never listed"


def _probability(client, contact_id: str, as_of: float) -> float:
    iso = pd.Timestamp(as_of, unit="s", tz="UTC").isoformat()
    body = client.get("/v1/owners/o0/recommendations", params={"k": 100, "as_of": iso}).json()
    return next(r["probability"] for r in body["recommendations"] if r["contact_id"] == contact_id)


def test_impressions_sink_a_contact_until_something_happens(app_client, tiny):
    client, _ = app_client
    load_through_api(client, tiny)

    def ranking() -> list[str]:
        return [r["contact_id"] for r in client.get("/v1/owners/o2/recommendations", params={"k": 5}).json()[
            "recommendations"]]

    first = ranking()
    top = first[0]
    sunk = None
    for _ in range(25):
        current = ranking()
        if top not in current:
            sunk = current
            break
    assert sunk is not None, "a contact shown again and again without any interaction should sink"
    now = pd.Timestamp.now(tz="UTC").isoformat()
    event = {"event_id": "real-meeting", "owner_id": "o2", "contact_id": top, "type": "meeting", "direction": "in",
             "occurred_at": now}
    client.post("/v1/events", json={"events": [event]}).raise_for_status()
    time.sleep(0.01)
    assert top in ranking()  # one real interaction restores it


def test_feedback_turns_referral_negative_and_creates_intro(app_client, tiny):
    client, engine = app_client
    load_through_api(client, tiny)
    events = tiny.events
    referral = events[events["type"].isin(["referral", "intro"]) & (events["useful"] != "false")].iloc[0]
    pair = (referral["owner_id"], referral["contact_id"])

    def successes() -> float:
        with engine.connect() as conn:
            return conn.execute(select(PairAggregate.n_success).where(
                PairAggregate.owner_id == pair[0], PairAggregate.contact_id == pair[1])).scalar_one()

    before = successes()
    response = client.post("/v1/feedback", json={"owner_id": pair[0], "contact_id": pair[1], "outcome": "not_useful",
                                                 "event_id": referral["event_id"]})
    assert response.status_code == 201
    assert successes() == before - 1
    with engine.connect() as conn:
        assert conn.execute(select(Event.useful).where(Event.event_id == referral["event_id"])).scalar_one() is False
    served = client.get(f"/v1/owners/{pair[0]}/recommendations").json()["recommendations"][0]
    made = client.post("/v1/feedback", json={"owner_id": pair[0], "contact_id": served["contact_id"],
                                             "outcome": "intro_made", "recommendation_id": served["recommendation_id"]})
    assert made.status_code == 201
    with engine.connect() as conn:
        created = conn.execute(select(Event.type, Event.useful).where(
            Event.event_id == f"feedback:{served['recommendation_id']}")).one()
    assert tuple(created) == ("intro", True)
    bad = client.post("/v1/feedback", json={"owner_id": pair[0], "contact_id": pair[1], "outcome": "useful",
                                            "event_id": "no-such-event"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "event_id"]


@pytest.mark.slow
def test_retrain_on_new_data_promotes_and_serves_newer_champion(sqlite_engine, tmp_path, live_app):
    """First model: three owners' first half-year. Then the rest arrives through the API and
    the admin retrain job trains on all of it, is judged on the newer cuts, and is served."""
    from dataclasses import replace

    folder = tmp_path / "net"
    write_network(simulate_network(n_owners=16, seed=21, months=14), folder)
    data = load_csv_dir(folder)
    half = pd.Timestamp("2025-08-01", tz="UTC").timestamp()
    few = ["o00", "o01", "o02"] if "o00" in set(data.owners["owner_id"]) else sorted(data.owners["owner_id"])[:3]
    first_part = replace(data, owners=data.owners[data.owners["owner_id"].isin(few)],
                         contacts=data.contacts[data.contacts["owner_id"].isin(few)],
                         events=data.events[data.events["owner_id"].isin(few)])
    settings = Settings(data_dir=tmp_path / "store", model_poll_seconds=0.5)
    key = create_api_key(sqlite_engine, "crm", admin=True)
    import threading

    from introrank.training.retrain import retrain
    from introrank.worker import run_worker

    with live_app(settings, sqlite_engine) as live, live.client(key, timeout=120) as client:
        load_through_api(client, first_part, before=half)
        first = retrain(sqlite_engine, settings, "crm")
        assert first.decision.promoted
        client.post("/v1/admin/reload").raise_for_status()
        assert client.get("/v1/model").json()["model_version"] == first.decision.version
        load_through_api(client, data, batch=2000)  # everything else streams in; replays are duplicates
        job = client.post("/v1/admin/retrain").json()  # queued: the API process never trains
        assert job["state"] == "queued"
        stop = threading.Event()  # the job worker, as `introrank serve` runs it beside the API
        worker = threading.Thread(target=run_worker, args=(sqlite_engine, settings),
                                  kwargs={"poll_seconds": 0.2, "stop": stop}, daemon=True)
        worker.start()
        for _ in range(600):
            job = client.get(f"/v1/admin/jobs/{job['job_id']}").json()
            if job["state"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert job["state"] == "succeeded", job
        assert min(job["result"]["test_cuts"]) > max(first.result.split.describe()["test_cuts"])
        decision = job["result"]["decision"]
        assert decision["champion_version"] == first.decision.version
        assert decision["promoted"], decision
        assert decision["new_ndcg"] > decision["champion_ndcg"]
        assert decision["difference_low"] is not None and decision["positive_queries"] >= 1
        stop.set()
        for _ in range(100):  # served by this process after its next registry poll, no reload call
            if client.get("/v1/model").json()["model_version"] == decision["version"]:
                break
            time.sleep(0.1)
        assert client.get("/v1/model").json()["model_version"] == decision["version"]


@pytest.mark.slow
def test_poll_picks_up_a_new_champion_without_restart(sqlite_engine, tmp_path, tiny, live_app):
    from introrank.training.pipeline import run_training

    settings = Settings(data_dir=tmp_path / "store", model_poll_seconds=0.5)
    key = create_api_key(sqlite_engine, "crm")
    with live_app(settings, sqlite_engine) as live, live.client(key, timeout=5) as client:
        assert client.get("/v1/model").json()["model_version"] == "heuristic"
        outcome = run_training(tiny, Settings(data_dir=tmp_path / "store"), tenant="crm")
        for _ in range(100):
            if client.get("/v1/model").json()["model_version"] == outcome.decision.version:
                break
            time.sleep(0.2)
        assert client.get("/v1/model").json()["model_version"] == outcome.decision.version


def test_tenant_policy_configures_reranking(app_client, tiny):
    client, _ = app_client
    load_through_api(client, tiny)
    assert client.get("/v1/admin/policy").json() == {"impression_decay": 0.85, "max_per_company": 2,
                                                     "ask_cooldown_days": 30.0}
    assert client.put("/v1/admin/policy", json={"max_per_company": 1, "impression_decay": 1.0}).json()[
        "max_per_company"] == 1
    items = client.get("/v1/owners/o1/recommendations", params={"k": 10}).json()["recommendations"]
    companies = tiny.contacts.set_index("contact_id").loc[[r["contact_id"] for r in items], "company"]
    assert companies[companies != ""].value_counts().max() == 1
    again = client.get("/v1/owners/o1/recommendations", params={"k": 10}).json()["recommendations"]
    assert [r["contact_id"] for r in again] == [r["contact_id"] for r in items]  # decay 1.0: no sinking
    bad = client.put("/v1/admin/policy", json={"impression_decay": 1.5})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "impression_decay"]
    assert client.put("/v1/admin/policy", json={"max_per_company": None}).json()["max_per_company"] == 2


def test_profile_cache_sees_contact_and_owner_changes(app_client, tiny):
    """The per-process profile cache must never serve a stale contact or owner."""
    client, _ = app_client
    load_through_api(client, tiny)
    policy = client.put("/v1/admin/policy", json={"impression_decay": 1.0})
    assert policy.status_code == 200
    first = client.get("/v1/owners/o1/recommendations").json()["recommendations"]
    top = first[0]["contact_id"]
    row = tiny.contacts[(tiny.contacts["owner_id"] == "o1") & (tiny.contacts["contact_id"] == top)].iloc[0]
    from servicekit import contact_item

    item = contact_item(row)
    item.pop("contact_id")
    client.put(f"/v1/owners/o1/contacts/{top}", json={**item, "do_not_recommend": True}).raise_for_status()
    after = [r["contact_id"] for r in client.get("/v1/owners/o1/recommendations").json()["recommendations"]]
    assert top not in after
    owner = client.get("/v1/owners/o1/recommendations", params={"goal": "business_growth"}).json()
    assert owner["goal"] == "business_growth"


def _companies(tiny, items: list[dict]) -> pd.Series:
    companies = tiny.contacts.set_index("contact_id").loc[[r["contact_id"] for r in items], "company"]
    return companies[companies.fillna("") != ""]


def test_stateless_score_uses_the_tenant_policy_as_the_stored_path_does(app_client, tiny):
    client, _ = app_client
    load_through_api(client, tiny)
    default = {o: client.post("/v1/score", json=_score_body(tiny, o, ISO_T)).json()["recommendations"]
               for o in tiny.owners["owner_id"]}
    crowded = [o for o, items in default.items() if _companies(tiny, items).value_counts().max() > 1]
    assert crowded, "expected a default list with two contacts from one company"
    owner = crowded[0]
    client.put("/v1/admin/policy", json={"max_per_company": 1, "impression_decay": 1.0}).raise_for_status()
    for as_of in (ISO_T, None):
        stateless = client.post("/v1/score", json=_score_body(tiny, owner, as_of)).json()["recommendations"]
        stored = client.get(f"/v1/owners/{owner}/recommendations",
                            params={"k": 10, **({"as_of": as_of} if as_of else {})}).json()["recommendations"]
        assert _companies(tiny, stateless).value_counts().max() == 1
        assert [r["contact_id"] for r in stateless] == [r["contact_id"] for r in stored] and len(stored) == 10
        for x, y in zip(stateless, stored, strict=True):
            assert x["probability"] == pytest.approx(y["probability"], abs=1e-6)
            assert (x["reasons"], x["action"]) == (y["reasons"], y["action"])
    capped = client.post("/v1/score", json=_score_body(tiny, owner, ISO_T)).json()["recommendations"]
    assert [r["contact_id"] for r in capped] != [r["contact_id"] for r in default[owner]]
