"""Ordinary bad input gets a 4xx that names the field, never a 500, through the real app over HTTP.

One id grammar (model/grammar.py) for bodies and paths, bounded texts and lists,
event times within [1970, now + 1 day], re-sent event ids with another payload
reported as conflicts, and the inputs that used to be 500s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key
from introrank.service.store.tables import Event

NOW = datetime.now(UTC).replace(microsecond=0)
ISO = (NOW - timedelta(days=3)).isoformat()


@contextmanager
def _serve(live_app, engine: Engine, data_dir: Path) -> Iterator[httpx.Client]:
    key = create_api_key(engine, "crm", admin=True)
    with live_app(Settings(data_dir=data_dir), engine).client(key) as client:
        yield client


@pytest.fixture
def api(sqlite_engine, tmp_path: Path, live_app) -> Iterator[httpx.Client]:
    """An admin client of a live app (heuristic serving) on SQLite, with owner o1 and contacts c1, c2."""
    with _serve(live_app, sqlite_engine, tmp_path / "store") as client:
        _seed(client, "o1")
        yield client


def _seed(client: httpx.Client, owner_id: str, contacts: tuple[str, ...] = ("c1", "c2")) -> None:
    client.put(f"/v1/owners/{owner_id}", json={"goal": "job_search"}).raise_for_status()
    items = [{"contact_id": c, "company": f"co-{c[:20]}"} for c in contacts]
    client.put(f"/v1/owners/{owner_id}/contacts", json={"contacts": items}).raise_for_status()


def _event(event_id: str, owner_id: str = "o1", contact_id: str = "c1", **changes: object) -> dict:
    return {"event_id": event_id, "owner_id": owner_id, "contact_id": contact_id, "occurred_at": ISO,
            "type": "message", "direction": "in", **changes}


def _loc(response: httpx.Response) -> list:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]["loc"]


@pytest.mark.parametrize("bad", ["a/b", "a b", ".", "..", "", "x" * 201, "tab\there", "ünïcode", "a?b", "a%2Fb"])
def test_ids_outside_the_grammar_are_422_naming_the_field(api, bad):
    assert _loc(api.post("/v1/events", json={"events": [_event("e0"), _event(bad)]})) == [
        "body", "events", 1, "event_id"]
    assert _loc(api.post("/v1/events", json={"events": [_event("e0", contact_id=bad)]})) == [
        "body", "events", 0, "contact_id"]
    assert _loc(api.put("/v1/owners/o1/contacts", json={"contacts": [{"contact_id": bad}]})) == [
        "body", "contacts", 0, "contact_id"]
    assert _loc(api.post("/v1/feedback", json={"owner_id": "o1", "contact_id": "c1", "outcome": "contacted",
                                               "recommendation_id": bad})) == ["body", "recommendation_id"]


@pytest.mark.parametrize("segment", ["%2E%2E", "%2E", "a%20b", "x" * 201, "a:b@c+d-e_f." + "9" * 188 + "x"])
def test_path_ids_follow_the_same_grammar(api, segment):
    answer = api.put(f"/v1/owners/{segment}", json={"goal": "job_search"})
    if len(segment) == 200:  # the longest id of the safe set is fine
        assert answer.status_code == 200
        assert api.get(f"/v1/owners/{segment}/recommendations").status_code == 200
        assert api.delete(f"/v1/owners/{segment}").status_code == 200
    else:
        assert _loc(answer) == ["path", "owner_id"]
        assert _loc(api.get(f"/v1/owners/{segment}/recommendations")) == ["path", "owner_id"]
        assert _loc(api.delete(f"/v1/owners/o1/contacts/{segment}")) == ["path", "contact_id"]


def test_texts_and_lists_are_bounded(api):
    cases = [({"company": "x" * 201}, ["company"]), ({"title": "nul\x00byte"}, ["title"]),
             ({"name": "line\nbreak"}, ["name"]), ({"tags": ["t"] * 51}, ["tags"]),
             ({"tags": ["ok", "y" * 201]}, ["tags", 1])]
    for change, where in cases:
        assert _loc(api.put("/v1/owners/o1/contacts/c1", json=change)) == ["body", *where], change
        batch = {"contacts": [{"contact_id": "c1"}, {"contact_id": "c2", **change}]}
        assert _loc(api.put("/v1/owners/o1/contacts", json=batch)) == ["body", "contacts", 1, *where]
    owner = {"goal": "job_search", "target_companies": ["z" * 201]}
    assert _loc(api.put("/v1/owners/o1", json=owner)) == ["body", "target_companies", 0]
    owner = {"goal": "job_search", "industry": "fin\x00tech"}
    assert _loc(api.put("/v1/owners/o1", json=owner)) == ["body", "industry"]
    fine = {"company": "Zürich Ärzte", "title": "x" * 200, "tags": ["t"] * 50}
    assert api.put("/v1/owners/o1/contacts/c1", json=fine).status_code == 200


def test_occurred_at_lies_between_1970_and_a_day_ahead(api):
    late = (NOW + timedelta(days=2)).isoformat()
    for when in ("1969-12-31T23:59:59Z", late):
        assert _loc(api.post("/v1/events", json={"events": [_event("e0"), _event("e1", occurred_at=when)]})) == [
            "body", "events", 1, "occurred_at"]
        feedback = {"owner_id": "o1", "contact_id": "c1", "outcome": "contacted", "occurred_at": when}
        assert _loc(api.post("/v1/feedback", json=feedback)) == ["body", "occurred_at"]
    soon = (NOW + timedelta(hours=23)).isoformat()  # within the day of clock skew: stored, and warmth stays finite
    assert api.post("/v1/events", json={"events": [_event("e1", occurred_at=soon)]}).json()["inserted"] == 1
    listed = api.get("/v1/owners/o1/recommendations")
    assert listed.status_code == 200 and [it["contact_id"] for it in listed.json()["recommendations"]] == ["c1"]
    assert 0 < listed.json()["recommendations"][0]["probability"] < 1


def test_a_resent_event_id_with_another_payload_is_a_conflict(api, sqlite_engine):
    first = api.post("/v1/events", json={"events": [_event("e1"), _event("e2", type="intro", useful=None)]})
    assert first.json() == {"inserted": 2, "duplicates": 0, "conflicts": []}
    moved = (NOW - timedelta(days=1)).isoformat()
    again = api.post("/v1/events", json={"events": [
        _event("e1"), _event("e2", type="intro", contact_id="c2", occurred_at=moved), _event("e3"),
        _event("e3", direction="out")]})
    assert again.status_code == 200
    assert again.json() == {"inserted": 1, "duplicates": 1, "conflicts": [
        {"index": 1, "event_id": "e2", "fields": ["contact_id", "occurred_at"]},
        {"index": 3, "event_id": "e3", "fields": ["direction"]}]}
    with sqlite_engine.connect() as conn:  # the stored versions stand
        rows = conn.execute(select(Event.event_id, Event.contact_id, Event.direction).order_by(Event.event_id)).all()
    assert [tuple(r) for r in rows] == [("e1", "c1", "in"), ("e2", "c1", "in"), ("e3", "c1", "in")]
    # feedback re-judges e2; the CRM re-sending its own flag is still a duplicate
    judged = {"owner_id": "o1", "contact_id": "c1", "outcome": "not_useful", "event_id": "e2"}
    assert api.post("/v1/feedback", json=judged).status_code == 201
    replay = api.post("/v1/events", json={"events": [_event("e2", type="intro", useful=None)]})
    assert replay.json() == {"inserted": 0, "duplicates": 1, "conflicts": []}


def test_empty_policy_update_changes_nothing(api):
    before = api.get("/v1/admin/policy").json()
    answer = api.put("/v1/admin/policy", json={})
    assert answer.status_code == 200 and answer.json() == before
    assert api.put("/v1/admin/policy", json={"max_per_company": 3}).json()["max_per_company"] == 3
    assert api.put("/v1/admin/policy", json={}).json()["max_per_company"] == 3
    assert _loc(api.put("/v1/admin/policy", json={"max_per_company": 0})) == ["body", "max_per_company"]


def test_score_with_a_repeated_contact_is_422(api):
    body = {"owner": {"goal": "job_search"}, "contacts": [{"contact_id": "a"}, {"contact_id": "a"}],
            "events": [{"contact_id": "a", "occurred_at": ISO, "type": "message", "direction": "in"}]}
    assert _loc(api.post("/v1/score", json=body)) == ["body", "contacts", 1, "contact_id"]
    body["contacts"] = [{"contact_id": "a"}, {"contact_id": "b"}]
    assert api.post("/v1/score", json=body).status_code == 200
    body["events"][0]["contact_id"] = "stranger"
    assert _loc(api.post("/v1/score", json=body)) == ["body", "events", 0, "contact_id"]


def test_feedback_recommendation_id_must_belong_to_the_owner(api):
    _seed(api, "o2", contacts=("c1",))  # another owner with a contact of the same id
    api.post("/v1/events", json={"events": [_event("e1")]}).raise_for_status()
    served = api.get("/v1/owners/o1/recommendations").json()["recommendations"]
    rec = next(r["recommendation_id"] for r in served if r["contact_id"] == "c1")
    theirs = {"owner_id": "o2", "contact_id": "c1", "outcome": "contacted", "recommendation_id": rec}
    assert _loc(api.post("/v1/feedback", json=theirs)) == ["body", "recommendation_id"]
    assert api.post("/v1/feedback", json={**theirs, "owner_id": "o1"}).status_code == 201


def test_longest_ids_fit_the_store_and_longer_ones_are_422(engine, tmp_path: Path, live_app):
    """PostgreSQL's btree row limit (~2.7 kB) once made a long id a 500; 200 characters fit every key."""
    longest = {name: name[0] + "x" * 199 for name in ("owner", "contact", "event")}
    with _serve(live_app, engine, tmp_path / "store") as api:
        _seed(api, longest["owner"], contacts=(longest["contact"],))
        events = [_event(longest["event"], longest["owner"], longest["contact"])]
        assert api.post("/v1/events", json={"events": events}).json()["inserted"] == 1
        listed = api.get(f"/v1/owners/{longest['owner']}/recommendations").json()["recommendations"]
        assert [r["contact_id"] for r in listed] == [longest["contact"]]
        huge = "h" * 3000
        assert _loc(api.put(f"/v1/owners/{huge}", json={"goal": "job_search"})) == ["path", "owner_id"]
        assert _loc(api.put(f"/v1/owners/{longest['owner']}/contacts", json={"contacts": [{"contact_id": huge}]}))
        assert _loc(api.put(f"/v1/owners/{longest['owner']}/contacts/c1", json={"company": huge})) == [
            "body", "company"]
        assert _loc(api.post("/v1/events", json={"events": [{**events[0], "event_id": huge}]}))
        assert api.delete(f"/v1/owners/{longest['owner']}").status_code == 200
