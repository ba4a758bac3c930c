"""``introrank.service.integrations.client`` against the real app over HTTP on SQLite, and retries against a real
local HTTP server that misbehaves on purpose. No mocks."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from introrank.service.integrations.client import (
    AuthenticationError,
    IntrorankClient,
    IntrorankError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    ValidationError,
)
from introrank.service.schemas import ContactUpsert, EventIn, OwnerUpsert, WebhookPublic
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key

OWNER = "o1"
N_CONTACTS = 30
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TYPES = ("touch", "message", "meeting", "give", "ask", "intro", "referral")
README = Path(__file__).resolve().parents[1] / "README.md"
PUBLIC_HOOK = "https://93.184.215.14/hook"  # a public address literal: registration resolves no name, sends nothing

# The README's "CRM integration" example, run as is by test_readme_example.
CRM_EXAMPLE = """\
import os
from datetime import UTC, datetime

from introrank.service.integrations.client import IntrorankClient

with IntrorankClient(os.environ["INTRORANK_URL"], os.environ["INTRORANK_API_KEY"]) as ir:
    ir.upsert_owner("u42", {"goal": "job_search", "target_industries": ["fintech"]})
    ir.upsert_contacts("u42", [{"contact_id": "c1", "company": "Acme", "industry": "fintech"},
                               {"contact_id": "c2", "company": "Globex", "career_stage": 5}])
    activity = ({"event_id": f"crm-{i}", "owner_id": "u42", "contact_id": f"c{i % 2 + 1}",
                 "occurred_at": datetime(2025, 3, 1 + i, tzinfo=UTC), "type": "message",
                 "direction": "out"} for i in range(20))  # any iterable: sent in batches
    print(ir.post_events(activity))  # idempotent on event_id: re-sending is safe
    top = ir.recommendations("u42", k=5).recommendations
    for r in top:
        print(r.rank, r.contact_id, f"{r.probability:.0%}", r.action.type, r.reasons[0])
    ir.feedback("u42", top[0].contact_id, "contacted", recommendation_id=top[0].recommendation_id)
"""


def contact_items(n: int = N_CONTACTS) -> list[dict]:
    return [{"contact_id": f"c{i:02d}", "company": f"co{i % 8}", "industry": ("fintech", "health")[i % 2],
             "career_stage": 1 + i % 7} for i in range(n)]


def event_stream(n: int, start: int = 0) -> Iterator[dict]:
    """``n`` events over the owner's contacts, a generator (the client must batch it lazily)."""
    for i in range(start, start + n):
        yield {"event_id": f"e{i}", "owner_id": OWNER, "contact_id": f"c{i % N_CONTACTS:02d}",
               "occurred_at": T0 + timedelta(hours=7 * i), "type": TYPES[i % 7],
               "direction": ("out", "in")[i % 2], "useful": True if TYPES[i % 7] == "intro" else None}


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose MLflow store has no champion; shared, since creating an
    MLflow database costs seconds and every app here only reads it."""
    return tmp_path_factory.mktemp("no-model")


@pytest.fixture
def api(sqlite_engine, empty_registry: Path, live_app) -> SimpleNamespace:
    """The real app on a fresh SQLite database, serving the heuristic (no champion: fast),
    with a 1 MB body limit so a 413 is reachable with one modest batch."""
    live = live_app(Settings(data_dir=empty_registry, max_body_bytes=1_000_000), sqlite_engine)
    keys = SimpleNamespace(key=create_api_key(sqlite_engine, "tenant-a"),
                           other=create_api_key(sqlite_engine, "tenant-b"),
                           admin=create_api_key(sqlite_engine, "tenant-a", admin=True))
    return SimpleNamespace(base=live.base, app=live.app, **vars(keys))


def requests_seen(app, method: str, route: str, status: str = "200") -> float:
    sample = app.state.metrics.registry.get_sample_value(
        "introrank_requests_total", {"method": method, "route": route, "status": status})
    return sample or 0.0


def load_owner(ir: IntrorankClient) -> None:
    ir.upsert_owner(OWNER, {"goal": "job_search", "target_industries": ["fintech"]})
    ir.upsert_contacts(OWNER, contact_items())


def test_full_flow(api):
    with IntrorankClient(api.base, api.key) as ir:
        owner = ir.upsert_owner(OWNER, OwnerUpsert(goal="job_search", career_stage=3,
                                                   target_industries=["fintech"]))
        assert owner.owner_id == OWNER and owner.career_stage == 3
        assert ir.upsert_contact(OWNER, "c00", ContactUpsert(company="co0")) == 1
        assert ir.upsert_contacts(OWNER, contact_items(), batch_size=7) == N_CONTACTS  # 5 requests
        assert requests_seen(api.app, "PUT", "/v1/owners/{owner_id}/contacts") == 5

        result = ir.post_events(event_stream(1234), batch_size=500)
        assert (result.inserted, result.duplicates) == (1234, 0)
        assert requests_seen(api.app, "POST", "/v1/events") == 3  # 500 + 500 + 234
        models = [EventIn.model_validate(e) for e in event_stream(10, start=1224)]
        assert ir.post_events(models).model_dump() == {"inserted": 0, "duplicates": 10, "conflicts": []}

        listed = ir.recommendations(OWNER, k=5)
        assert listed.model_version == "heuristic" and listed.owner_id == OWNER
        assert [r.rank for r in listed.recommendations] == list(range(1, len(listed.recommendations) + 1))
        assert 0 < len(listed.recommendations) <= 5
        assert ir.recommendations(OWNER, k=3, goal="career_support").goal == "career_support"
        past = ir.recommendations(OWNER, as_of=T0 + timedelta(days=200))
        assert past.as_of == T0 + timedelta(days=200)

        top = listed.recommendations[0]
        feedback_id = ir.feedback(OWNER, top.contact_id, "contacted", recommendation_id=top.recommendation_id,
                                  occurred_at=datetime.now(UTC))
        assert isinstance(feedback_id, int) and feedback_id > 0

        ir.delete_contact(OWNER, top.contact_id)
        with pytest.raises(NotFoundError):
            ir.delete_contact(OWNER, top.contact_id)
        ir.delete_owner(OWNER)
        with pytest.raises(NotFoundError, match="owner not found"):
            ir.recommendations(OWNER)

        assert ir.health() == {"status": "ok"}
        assert ir.ready()["status"] == "ready"
        assert ir.model().heuristic is True


def test_auth_errors_carry_the_server_detail(api):
    with IntrorankClient(api.base, "ir_wrong") as ir, pytest.raises(AuthenticationError) as caught:
        ir.model()
    assert (caught.value.status_code, caught.value.detail) == (401, "invalid API key")
    assert caught.value.body == {"detail": "invalid API key"} and caught.value.request_id
    with IntrorankClient(api.base, api.key) as ir, pytest.raises(AuthenticationError) as caught:
        ir.reload()
    assert caught.value.status_code == 403 and "admin" in caught.value.detail
    with IntrorankClient(api.base, api.admin) as admin:
        assert admin.reload().model_version == "heuristic"


def test_not_found_across_tenants(api):
    with IntrorankClient(api.base, api.key) as ir:
        load_owner(ir)
    with IntrorankClient(api.base, api.other) as other, pytest.raises(NotFoundError) as caught:
        other.recommendations(OWNER)
    assert (caught.value.status_code, caught.value.detail) == (404, "owner not found")


def test_validation_errors_name_the_failing_field(api):
    with IntrorankClient(api.base, api.key) as ir:
        load_owner(ir)
        events = list(event_stream(4))
        events[3]["occurred_at"] = "2025-06-01T10:00:00"  # naive: refused
        with pytest.raises(ValidationError) as caught:
            ir.post_events(events, batch_size=2)  # the 2nd batch fails, the 1st is stored
        assert caught.value.status_code == 422
        assert caught.value.detail[0]["loc"] == ["body", "events", 1, "occurred_at"]
        assert "events[2:4]" in caught.value.__notes__[0]
        assert ir.post_events(events[:2]).duplicates == 2

        with pytest.raises(ValidationError) as caught:
            ir.post_events([{**events[0], "event_id": "new", "contact_id": "nobody"}])
        assert caught.value.detail[0]["loc"] == ["body", "events", 0, "contact_id"]
        with pytest.raises(ValidationError) as caught:
            ir.feedback(OWNER, "c01", "delighted")  # type: ignore[arg-type]
        assert caught.value.detail[0]["loc"] == ["body", "outcome"]
        with pytest.raises(ValidationError):
            ir.recommendations(OWNER, as_of=datetime(2025, 6, 1))  # naive
        with pytest.raises(ValueError, match="batch_size"):
            ir.post_events(events, batch_size=10_001)


def test_body_over_the_limit_is_payload_too_large(api):
    with IntrorankClient(api.base, api.key) as ir, pytest.raises(PayloadTooLargeError) as caught:
        ir.post_events(event_stream(10_000))  # ~1.6 MB > the 1 MB limit
    assert caught.value.status_code == 413 and "limit" in caught.value.detail


def test_score_is_the_stateless_twin_of_recommendations(api):
    with IntrorankClient(api.base, api.key) as ir:
        load_owner(ir)
        ir.post_events(event_stream(300))
        at = T0 + timedelta(days=90)
        events = [{k: v for k, v in e.items() if k != "owner_id"} for e in event_stream(300)]
        scored = ir.score({"owner_id": OWNER, "goal": "job_search", "target_industries": ["fintech"]},
                          contact_items(), events, k=5, as_of=at)
        stored = ir.recommendations(OWNER, k=5, as_of=at)
        assert [r.contact_id for r in scored.recommendations] == [r.contact_id for r in stored.recommendations]
        assert scored.as_of == at and len(scored.recommendations) == 5

        warm = ir.keep_warm(OWNER, k=3)
        assert warm.owner_id == OWNER and len(warm.keep_warm) <= 3
        assert [w.rank for w in warm.keep_warm] == list(range(1, len(warm.keep_warm) + 1))
        with pytest.raises(NotFoundError):
            ir.keep_warm("nobody")


def test_jobs_need_admin_and_unknown_jobs_are_404(api):
    with IntrorankClient(api.base, api.key) as ir, pytest.raises(AuthenticationError) as caught:
        ir.retrain()
    assert caught.value.status_code == 403
    with IntrorankClient(api.base, api.admin) as admin, pytest.raises(NotFoundError) as caught:
        admin.job("no-such-job")
    assert caught.value.detail == "job not found"


def test_webhook_lifecycle(api):
    with IntrorankClient(api.base, api.key) as ir, IntrorankClient(api.base, api.admin) as admin:
        with pytest.raises(NotFoundError):
            ir.webhook()
        with pytest.raises(AuthenticationError):
            ir.put_webhook(PUBLIC_HOOK)
        with pytest.raises(ValidationError) as caught:
            admin.put_webhook("not a url")
        assert caught.value.detail[0]["loc"] == ["body", "url"]
        with pytest.raises(ValidationError) as caught:
            admin.put_webhook("https://127.0.0.1/hook")  # not a public address
        assert caught.value.detail[0]["loc"] == ["body", "url"]
        hook = admin.put_webhook(PUBLIC_HOOK, k=5)  # no secret: one is generated, returned this once
        assert (hook.url, hook.k) == (PUBLIC_HOOK, 5) and hook.secret and hook.secret.startswith("whsec_")
        assert ir.webhook() == WebhookPublic(**hook.model_dump(exclude={"secret"}))
        assert ir.webhook_deliveries() == []
        assert admin.put_webhook(PUBLIC_HOOK, k=3).secret is None  # same URL, no secret: the current one stays
        admin.delete_webhook()
        with pytest.raises(NotFoundError):
            ir.webhook()


def test_readme_example(api, monkeypatch, capsys):
    """The README snippet runs against the live app; if the README has it, it is this one."""
    monkeypatch.setenv("INTRORANK_URL", api.base)
    monkeypatch.setenv("INTRORANK_API_KEY", api.key)
    exec(compile(CRM_EXAMPLE, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "inserted=20 duplicates=0 conflicts=[]" and len(printed) == 3
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    shown = [b for b in blocks if "IntrorankClient" in b]
    assert not shown or CRM_EXAMPLE in shown


# Retries, against a scripted real HTTP server ------------------------------------------------


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next ``(status, headers)`` of ``script`` (then 200);
    status 0 drops the connection without answering."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script, self.seen = list(script), 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen += 1
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        if status == 0:
            self.close_connection = True
            return
        body = b'{"status":"ok"}' if status == 200 else b'{"detail":"scripted"}'
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(*script: tuple[int, dict[str, str]]) -> Scripted:
        server = Scripted(list(script))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_503_twice_then_success(scripted):
    server = scripted((503, {}), (503, {}))
    with IntrorankClient(server.url, "k", backoff=0.01) as ir:
        assert ir.health() == {"status": "ok"}
    assert server.seen == 3


def test_retry_after_is_honoured_and_capped(scripted):
    server = scripted((429, {"Retry-After": "0"}), (503, {"Retry-After": "3600"}))
    started = time.monotonic()
    with IntrorankClient(server.url, "k", backoff=10.0, max_wait=0.05) as ir:  # the server says when
        ir.health()
    assert server.seen == 3 and time.monotonic() - started < 2


def test_retries_run_out(scripted):
    server = scripted(*[(503, {})] * 5)
    with IntrorankClient(server.url, "k", retries=2, backoff=0.01) as ir, pytest.raises(ServerError) as caught:
        ir.health()
    assert (server.seen, caught.value.status_code, caught.value.detail) == (3, 503, "scripted")


@pytest.mark.parametrize(("status", "kind"), [(400, IntrorankError), (500, ServerError), (404, NotFoundError)])
def test_other_errors_are_not_retried(scripted, status, kind):
    server = scripted((status, {}))
    with IntrorankClient(server.url, "k", backoff=0.01) as ir, pytest.raises(kind) as caught:
        ir.health()
    assert server.seen == 1 and caught.value.status_code == status


def test_dropped_connection_is_retried_only_when_idempotent(scripted):
    server = scripted((0, {}))
    with IntrorankClient(server.url, "k", backoff=0.01) as ir:
        assert ir.health()["status"] == "ok"
    assert server.seen == 2
    server = scripted((0, {}))
    with IntrorankClient(server.url, "k", backoff=0.01) as ir, pytest.raises(httpx.RemoteProtocolError):
        ir.feedback("o", "c", "contacted")  # stores a row: never sent twice
    assert server.seen == 1


def test_connection_refused_is_retried_then_raised(scripted):
    server = scripted()
    url = server.url
    server.shutdown()
    server.server_close()
    started = time.monotonic()
    with IntrorankClient(url, "k", retries=2, backoff=0.1) as ir, pytest.raises(httpx.ConnectError):
        ir.health()
    assert time.monotonic() - started >= 0.15  # two waits of at least 0.05 and 0.1 s
