"""The inputs schemathesis (tests/test_fuzz_api.py) answered 500 to, each now a 422 naming its field.

On both backends, over HTTP: PostgreSQL refuses what SQLite takes (a NUL in a string,
an integer over 32 bits), so some of these were 500s on PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from introrank.model.grammar import MAX_MUTUAL_CONNECTIONS
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key


@pytest.fixture
def api(engine, tmp_path: Path, live_app) -> Iterator[httpx.Client]:
    """An admin client of a live app (heuristic serving), with owner o1, contact c1 and one event."""
    key = create_api_key(engine, "crm", admin=True)
    with live_app(Settings(data_dir=tmp_path / "store"), engine).client(key) as client:
        client.put("/v1/owners/o1", json={"goal": "job_search"}).raise_for_status()
        client.put("/v1/owners/o1/contacts/c1", json={"company": "acme"}).raise_for_status()
        client.post("/v1/events", json={"events": [
            {"event_id": "e1", "owner_id": "o1", "contact_id": "c1", "occurred_at": "2025-01-01T00:00:00Z",
             "type": "message", "direction": "in"}]}).raise_for_status()
        yield client


def _error(response: httpx.Response) -> tuple[list, str]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    return detail["loc"], detail["msg"]


# Each of these once overflowed a datetime (year 0 or 10000 once the offset was applied,
# or 60 days on for keep-warm's goes_cold_on): ValueError, 500.
FAR_TIMES = ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00Z",
             "9999-12-31T00:00:00Z", "1969-12-31T23:59:59Z"]


def test_as_of_outside_1970_to_a_day_ahead_is_422(api):
    for as_of in FAR_TIMES:
        for route in ("/v1/owners/o1/recommendations", "/v1/owners/o1/keep-warm"):
            loc, msg = _error(api.get(route, params={"as_of": as_of}))
            assert loc == ["query", "as_of"] and "1970" in msg
        body = {"owner": {"goal": "job_search"}, "contacts": [{"contact_id": "c1"}], "events": [], "as_of": as_of}
        assert _error(api.post("/v1/score", json=body))[0] == ["body", "as_of"]
    for as_of in ("1970-01-01T00:00:00Z", (datetime.now(UTC) + timedelta(hours=12)).isoformat()):
        assert api.get("/v1/owners/o1/recommendations", params={"as_of": as_of}).status_code == 200
        assert api.get("/v1/owners/o1/keep-warm", params={"as_of": as_of}).status_code == 200


def test_mutual_connections_over_the_ceiling_is_422(api):
    """Over 32 bits PostgreSQL's integer column refused it (DataError), over 64 bits SQLite (OverflowError)."""
    for count in (MAX_MUTUAL_CONNECTIONS + 1, 2**31, 2**63, 2**70):
        loc, msg = _error(api.put("/v1/owners/o1/contacts/c2", json={"mutual_connections": count}))
        assert loc == ["body", "mutual_connections"] and str(MAX_MUTUAL_CONNECTIONS) in msg
        batch = {"contacts": [{"contact_id": "c2"}, {"contact_id": "c3", "mutual_connections": count}]}
        assert _error(api.put("/v1/owners/o1/contacts", json=batch))[0] == [
            "body", "contacts", 1, "mutual_connections"]
        score = {"owner": {"goal": "job_search"}, "contacts": [{"contact_id": "c1", "mutual_connections": count}],
                 "events": []}
        assert _error(api.post("/v1/score", json=score))[0] == ["body", "contacts", 0, "mutual_connections"]
    assert api.put("/v1/owners/o1/contacts/c2",
                   json={"mutual_connections": MAX_MUTUAL_CONNECTIONS}).status_code == 200


def test_job_ids_follow_the_id_grammar(api):
    """A NUL reached PostgreSQL (DataError, 500); an unknown id within the grammar stays a 404."""
    for job_id in ("a%00b", "a%20b", "x" * 5000):
        assert _error(api.get(f"/v1/admin/jobs/{job_id}"))[0] == ["path", "job_id"]
    for job_id in ("0" * 32, "no-such-job"):
        assert api.get(f"/v1/admin/jobs/{job_id}").status_code == 404


def test_deliveries_owner_filter_follows_the_id_grammar(api):
    """The filter reached PostgreSQL with a NUL in it (DataError, 500)."""
    for owner_id in ("a\x00b", "a/b", "x" * 201):
        assert _error(api.get("/v1/webhooks/deliveries", params={"owner_id": owner_id}))[0] == ["query", "owner_id"]
    assert api.get("/v1/webhooks/deliveries", params={"owner_id": "o1"}).json() == {"deliveries": []}
