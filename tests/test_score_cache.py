"""The score cache: a cached list is the model's answer at its as_of, and any change to its inputs ends it."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest
from servicekit import event_items, load_through_api

from introrank.service.serving.score_cache import ScoreCache
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key

OWNER = "o0"


def _live(live_app, engine, model_store, cache_seconds: float):
    live = live_app(Settings(data_dir=model_store.data_dir, score_cache_seconds=cache_seconds), engine)
    user, admin = create_api_key(engine, "tenant-a"), create_api_key(engine, "tenant-a", admin=True)
    return live, user, admin


def _get(client: httpx.Client, **params) -> dict:
    response = client.get(f"/v1/owners/{OWNER}/recommendations", params=params)
    response.raise_for_status()
    return response.json()


def _probabilities(body: dict) -> dict[str, float]:
    return {item["contact_id"]: item["probability"] for item in body["recommendations"]}


@pytest.fixture
def cached(engine, model_store, tiny, live_app):
    live, user, admin = _live(live_app, engine, model_store, cache_seconds=3600)
    a = live.client(user)
    load_through_api(a, tiny)
    return a, live.client(admin), live.app


def test_cached_list_equals_the_backtest_at_its_as_of(cached):
    a, _, app = cached
    first = _get(a, k=100)
    again = _get(a, k=100)
    assert again["as_of"] == first["as_of"]  # served from the cache ...
    assert app.state.scores.hits >= 1
    backtest = _get(a, k=100, as_of=first["as_of"])  # ... and the same as recomputing from the events then
    replay = _probabilities(backtest)
    assert [it["contact_id"] for it in first["recommendations"]] == list(replay) and len(replay) > 3
    for body in (first, again):  # `again` re-ranked by the impressions `first` left, same probabilities
        for contact, probability in _probabilities(body).items():
            if contact in replay:
                assert probability == pytest.approx(replay[contact], abs=1e-9)
    assert len(_probabilities(again).keys() & replay.keys()) > len(replay) // 2


def test_impressions_and_policy_apply_to_a_cached_list(cached):
    a, root, _ = cached
    root.put("/v1/admin/policy", json={"impression_decay": 0.001}).raise_for_status()
    shown = [it["contact_id"] for it in _get(a, k=3)["recommendations"]]
    after = _get(a, k=3)
    assert after["as_of"] == _get(a, k=3)["as_of"]  # still cached
    assert not set(shown) & {it["contact_id"] for it in after["recommendations"]}  # shown once: sunk


def test_new_events_and_profile_edits_end_the_entry(cached, tiny):
    a, _, _ = cached
    first = _get(a)
    contacts = tiny.contacts[tiny.contacts["owner_id"] == OWNER]
    quiet = contacts[~contacts["contact_id"].isin([it["contact_id"] for it in first["recommendations"]])]
    target = str(quiet["contact_id"].iloc[0])
    now = float(int(pd.Timestamp.now(tz="UTC").timestamp()))
    event = pd.DataFrame([{"event_id": "fresh-1", "owner_id": OWNER, "contact_id": target, "occurred_at": now,
                           "type": "meeting", "direction": "out", "useful": ""}])
    a.post("/v1/events", json={"events": event_items(event)}).raise_for_status()
    after_event = _get(a)
    assert pd.Timestamp(after_event["as_of"]) > pd.Timestamp(first["as_of"])
    a.put(f"/v1/owners/{OWNER}/contacts/{target}", json={"do_not_recommend": True}).raise_for_status()
    after_edit = _get(a, k=100)
    assert pd.Timestamp(after_edit["as_of"]) > pd.Timestamp(after_event["as_of"])
    assert target not in {it["contact_id"] for it in after_edit["recommendations"]}


def test_zero_seconds_scores_every_request(engine, model_store, tiny, live_app):
    live, user, _ = _live(live_app, engine, model_store, cache_seconds=0)
    with live, live.client(user) as a:
        load_through_api(a, tiny)
        assert _get(a)["as_of"] != _get(a)["as_of"]
        assert live.app.state.scores.hits == 0


class _Entry:
    def __init__(self, at: float) -> None:
        self.at = at


def test_score_cache_rules():
    cache = ScoreCache(max_age_seconds=60, capacity=2)
    built: list[float] = []

    def build(at: float):
        return lambda: built.append(at) or _Entry(at)

    first = cache.get("a", 1, build(100.0), now=100.0)
    assert cache.get("a", 1, build(110.0), now=159.0) is first  # young enough, same validity
    assert cache.get("a", 2, build(120.0), now=120.0) is not first  # a revision moved
    assert cache.get("a", 2, build(200.0), now=181.0).at == 200.0  # too old
    cache.get("b", 1, build(1.0), now=1.0)
    cache.get("c", 1, build(1.0), now=1.0)  # capacity 2: "a" is evicted
    assert cache.get("a", 2, build(300.0), now=201.0).at == 300.0
    assert built == [100.0, 120.0, 200.0, 1.0, 1.0, 300.0]


def test_impressions_from_another_replica_and_feedback_reach_a_cached_list(engine, model_store, tiny, live_app):
    """Two apps on one database (two replicas): each list sinks what either one showed; feedback lifts it."""
    live_a, user, admin = _live(live_app, engine, model_store, cache_seconds=3600)
    live_b = live_app(Settings(data_dir=model_store.data_dir, score_cache_seconds=3600), engine)
    app_a = live_a.app
    with live_a.client(user) as a, live_b.client(user) as b, live_a.client(admin) as root:
        load_through_api(a, tiny)
        root.put("/v1/admin/policy", json={"impression_decay": 0.001}).raise_for_status()
        first = [it["contact_id"] for it in _get(a, k=3)["recommendations"]]
        by_b = [it["contact_id"] for it in _get(b, k=3)["recommendations"]]
        again = _get(a, k=3)
        assert app_a.state.scores.hits >= 1  # still the cached entry ...
        assert not {it["contact_id"] for it in again["recommendations"]} & (set(first) | set(by_b))  # ... yet current
        a.post("/v1/feedback", json={"owner_id": OWNER, "contact_id": first[0], "outcome": "contacted"}
               ).raise_for_status()
        assert first[0] in {it["contact_id"] for it in _get(a, k=3)["recommendations"]}  # answered: back on top
