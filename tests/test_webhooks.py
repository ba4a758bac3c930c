"""Signed webhooks against a real local HTTP receiver: signature, retries, dedupe, status, isolation, targets.

The receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 that records every request
and can be told to answer the next requests with given statuses (or to hang past
the client's timeout, drip its answer, or send a huge body). Being on loopback over
http, it is reachable only with the on-premises settings (``LOCAL_OK``), which the
tests set explicitly; the strict defaults refuse it. No champion is registered, so
the heuristic ranker serves: fast, and deterministic between two pushes a moment apart.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from servicekit import free_port, load_through_api
from sqlalchemy import Engine, select
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from typer.testing import CliRunner

from introrank.model.dataset import Dataset
from introrank.service import settings as settings_module
from introrank.service.api.observability import JsonFormatter
from introrank.service.integrations.webhook_delivery import GuardedTransport, signature_headers, signer_for
from introrank.service.integrations.webhook_targets import TargetPolicy, TargetRefused, is_public
from introrank.service.integrations.webhooks import compute_digest_id, push_recommendations
from introrank.service.schemas import RecommendationItem
from introrank.service.serving.model_holder import load_served_model
from introrank.service.settings import Settings
from introrank.service.store.engine import dispose_engines, get_engine
from introrank.service.store.keys import create_api_key
from introrank.service.store.secret_box import SecretBox, SecretKeyMissing, SecretUnreadable, generate_key
from introrank.service.store.tables import Base, Tenant, Webhook
from introrank.training.datasets import load_csv_dir
from introrank.training.simulate import simulate_network, write_network

SECRET = "whsec_" + base64.b64encode(b"introrank-webhook-test-key-32by").decode()
ROTATED = "whsec_" + base64.b64encode(b"introrank-rotated-test-key-32by").decode()
LOCAL_OK = {"webhook_allow_http": True, "webhook_allowed_networks": ["127.0.0.1/32"]}  # the receiver's address
PAYLOAD_KEYS = {"digest_id", "tenant", "owner_id", "generated_at", "model_version", "goal", "recommendations"}
OUR_TABLES = {"webhooks", "webhook_deliveries"}


# --- the receiver -------------------------------------------------------------------------

@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | str

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records requests; answers ``plan`` in order (a status or "hang"), then ``default``."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    plan: list[int | str] = field(default_factory=list)
    default: int = 200
    hang_seconds: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self, start: int = 0) -> list[dict]:
        return [r.payload for r in self.requests[start:]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server interface
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                answer = state.plan.pop(0) if state.plan else state.default
                state.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, answer))
            try:
                if answer == "drip":  # a status line one byte at a time: each read is quick, the whole is not
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                if answer == "hang":
                    time.sleep(state.hang_seconds)
                    answer = 200
                size = 64 * 1024 * 1024 if answer == "big" else 2
                self.send_response(200 if answer == "big" else int(answer))
                self.send_header("Content-Length", str(size))
                self.end_headers()
                for _ in range(size // 65536):  # "big": far more than anyone should read
                    self.wfile.write(b"x" * 65536)
                self.wfile.write(b"ok"[: size % 65536])
            except OSError:  # the client gave up (timeout, or stopped reading)
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


# --- data, model store, the running service ---------------------------------------------

@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Three simulated owners, at most 40 contacts each (enough for a top-5, quick to load)."""
    folder = tmp_path_factory.mktemp("webhook-net")
    write_network(simulate_network(n_owners=3, seed=11, months=6), folder)
    data = load_csv_dir(folder)
    contacts = data.contacts.groupby("owner_id").head(40).reset_index(drop=True)
    events = data.events[data.events["contact_id"].isin(contacts["contact_id"])].reset_index(drop=True)
    return replace(data, contacts=contacts, events=events, oracle=None)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An MLflow store with no champion (created once: creating one takes seconds); the strict target rule."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("no-champion"))
    assert load_served_model(settings, "tenant-a").is_heuristic
    assert not settings.webhook_allow_http and settings.webhook_allowed_networks == []
    return settings


@pytest.fixture(scope="session")
def local_ok(empty_store: Settings) -> Settings:
    """The same store, with the on-premises settings that let the pusher reach the local receiver."""
    return empty_store.model_copy(update=LOCAL_OK)


@dataclass
class Env:
    engine: Engine
    settings: Settings
    tenant_a: int
    a: httpx.Client  # tenant A, normal key
    a_admin: httpx.Client
    b: httpx.Client  # tenant B, normal key
    b_admin: httpx.Client

    def push(self, **options: object):  # noqa: ANN201
        options = {"timeout": 2.0, "base_delay": 0.01, **options}
        return push_recommendations(self.engine, self.settings, self.tenant_a, **options)

    def register(self, url: str, k: int = 5, secret: str = SECRET) -> dict:
        response = self.a_admin.put("/v1/webhooks", json={"url": url, "secret": secret, "k": k})
        assert response.status_code == 200, response.text
        return response.json()

    def deliveries(self, client: httpx.Client | None = None, **params: object) -> list[dict]:
        response = (client or self.a).get("/v1/webhooks/deliveries", params=params)
        assert response.status_code == 200, response.text
        return response.json()["deliveries"]


@contextmanager
def running(live_app, engine: Engine, settings: Settings) -> Iterator[Env]:
    keys = [create_api_key(engine, "tenant-a"), create_api_key(engine, "tenant-a", admin=True),
            create_api_key(engine, "tenant-b"), create_api_key(engine, "tenant-b", admin=True)]
    with engine.connect() as conn:
        tenant_a = conn.execute(select(Tenant.id).where(Tenant.name == "tenant-a")).scalar_one()
    with live_app(settings, engine) as live:
        yield Env(engine, settings, tenant_a, *(live.client(k, bearer=True) for k in keys))


@pytest.fixture
def env(engine: Engine, local_ok: Settings, live_app) -> Iterator[Env]:
    with running(live_app, engine, local_ok) as env:
        yield env


@pytest.fixture
def loaded(env: Env, small: Dataset, receiver: Receiver) -> Env:
    """Tenant A's data loaded and its webhook pointing at the receiver (k=5)."""
    load_through_api(env.a, small)
    env.register(receiver.url)
    return env


def _by_owner(report) -> dict:  # noqa: ANN001
    return {o.owner_id: o for o in report.owners}


# --- tests ------------------------------------------------------------------------------

def test_signature_is_standard_webhooks_and_digest_helpers() -> None:
    body, sent = '{"a":1,"name":"Zoë"}'.encode(), datetime.now(UTC)
    headers = signature_headers(signer_for(SECRET), "digest-1", body, sent)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "digest-1" and headers["webhook-signature"].startswith("v1,")
    assert StandardWebhook(SECRET).verify(body, headers) == {"a": 1, "name": "Zoë"}  # the receiver's tooling
    for tampered, with_headers in ((body + b" ", headers), (body, {**headers, "webhook-id": "digest-2"}),
                                   (body, signature_headers(signer_for(ROTATED), "digest-1", body, sent))):
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(SECRET).verify(tampered, with_headers)
    stale = signature_headers(signer_for(SECRET), "digest-1", body, sent - timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError):  # a replay, too late
        StandardWebhook(SECRET).verify(body, stale)
    legacy = "a-secret-stored-before-the-spec"  # signs with its raw bytes, verifiable as such
    StandardWebhook(legacy.encode()).verify(body, signature_headers(signer_for(legacy), "d", body))
    ranked = [("c1", 0.12341), ("c2", 0.05)]
    same = compute_digest_id("t", "o", [("c1", 0.12344), ("c2", 0.05)], "3")
    assert compute_digest_id("t", "o", ranked, "3") == same  # equal once rounded
    assert compute_digest_id("t", "o", ranked, "4") != same
    assert compute_digest_id("t", "o", ranked[::-1], "3") != same
    assert compute_digest_id("t", "o2", ranked, "3") != same and len(same) == 64


def test_orm_classes_match_the_migration(engine: Engine) -> None:
    def ours(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in OUR_TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": ours})
        assert compare_metadata(context, Base.metadata) == []
    names = [c.name for t in OUR_TABLES for c in Base.metadata.tables[t].constraints] + \
            [i.name for t in OUR_TABLES for i in Base.metadata.tables[t].indexes]
    assert names and all(name and len(name) <= 63 for name in names)


def test_registration_auth_validation_and_isolation(env: Env, receiver: Receiver) -> None:
    body = {"url": receiver.url, "secret": SECRET, "k": 7}
    assert env.a.put("/v1/webhooks", json=body).status_code == 403  # changing where data goes: admin only
    assert httpx.get(str(env.a.base_url.join("/v1/webhooks"))).status_code == 401
    created = env.register(receiver.url, k=7)
    assert set(created) == {"url", "k", "created_at", "updated_at", "secret"} and created["k"] == 7
    assert created["secret"] is None  # it brought its own: nothing to hand back
    shown = env.a.get("/v1/webhooks")
    assert shown.status_code == 200 and shown.json()["url"] == receiver.url
    assert SECRET not in shown.text and "secret" not in shown.json()

    not_base64, too_short = "whsec_" + "!" * 40, "whsec_" + base64.b64encode(b"x" * 23).decode()
    for bad in ({**body, "url": "ftp://example.com/x"}, {**body, "url": "not a url"}, {**body, "secret": "short"},
                {**body, "secret": not_base64}, {**body, "secret": too_short},
                {**body, "secret": "0123456789abcdef0123456789abcdef"},  # no whsec_ prefix
                {**body, "k": 0}, {**body, "k": 101}, {**body, "extra": 1},
                {**body, "url": "http://example.com/" + "x" * 2048}):
        assert env.a_admin.put("/v1/webhooks", json=bad).status_code == 422, bad

    # Tenant B sees nothing of A's, and cannot remove it.
    assert env.b.get("/v1/webhooks").json() == {"detail": "webhook not found"}
    assert env.b.get("/v1/webhooks").status_code == 404
    assert env.b_admin.delete("/v1/webhooks").status_code == 404
    assert env.deliveries(env.b) == []

    rotated = env.register(receiver.url, k=3, secret=ROTATED)  # same URL: same webhook
    assert rotated["created_at"] == created["created_at"] and rotated["updated_at"] > created["updated_at"]

    def stored() -> tuple[str, int]:
        with env.engine.connect() as conn:
            row = conn.execute(select(Webhook.secret_ciphertext, Webhook.k).where(
                Webhook.tenant_id == env.tenant_a)).one()
        return SecretBox.from_settings(env.settings).open(row.secret_ciphertext), row.k

    assert stored() == (ROTATED, 3)  # the signing secret, stored sealed
    kept = env.a_admin.put("/v1/webhooks", json={"url": receiver.url, "k": 4}).json()  # no secret: keep it
    assert kept["secret"] is None and stored() == (ROTATED, 4)
    moved = env.a_admin.put("/v1/webhooks", json={"url": receiver.url + "/v2"})  # another URL, no secret
    assert moved.status_code == 200, moved.text
    moved = moved.json()  # another receiver: a new webhook (fresh history) with a generated secret, shown once
    assert moved["created_at"] > created["created_at"] and moved["url"] == receiver.url + "/v2"
    assert moved["secret"].startswith("whsec_") and len(base64.b64decode(moved["secret"][6:])) == 32
    assert stored()[0] == moved["secret"] and moved["secret"] not in env.a.get("/v1/webhooks").text

    assert env.a.delete("/v1/webhooks").status_code == 403
    assert env.a_admin.delete("/v1/webhooks").json() == {"deleted": True}
    assert env.a.get("/v1/webhooks").status_code == 404
    assert env.a_admin.delete("/v1/webhooks").status_code == 404


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_push_is_signed_and_each_distinct_list_is_sent_once(env: Env, receiver: Receiver, small: Dataset) -> None:
    load_through_api(env.a, small)
    env.register(receiver.url, k=5)
    owners = sorted(small.owners["owner_id"])

    capture = _Lines()
    logging.getLogger("introrank").addHandler(capture)
    try:
        first = env.push()  # loads the served model itself: no champion -> heuristic
    finally:
        logging.getLogger("introrank").removeHandler(capture)
    assert (first.delivered, first.failed, first.model_version) == (3, 0, "heuristic")
    assert [r.payload["owner_id"] for r in receiver.requests] == owners

    for request in receiver.requests:
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        assert StandardWebhook(SECRET).verify(request.body, request.headers) == request.payload
        for wrong_secret, body in ((ROTATED, request.body), (SECRET, request.body + b" ")):
            with pytest.raises(WebhookVerificationError):
                StandardWebhook(wrong_secret).verify(body, request.headers)
        payload = request.payload
        assert set(payload) == PAYLOAD_KEYS and payload["tenant"] == "tenant-a"
        assert request.headers["webhook-id"] == payload["digest_id"]  # the idempotency key, in both places
        items = payload["recommendations"]
        assert 0 < len(items) <= 5 and [it["rank"] for it in items] == list(range(1, len(items) + 1))
        assert all(set(it) == set(RecommendationItem.model_fields) for it in items)
        assert payload["digest_id"] == compute_digest_id(
            "tenant-a", payload["owner_id"], [(it["contact_id"], it["probability"]) for it in items], "heuristic")

    # Logs: ids and counts, never contacts, reasons, the URL or the secret.
    text = "\n".join(capture.lines)
    assert "3 delivered" in text and all(o in text for o in owners)
    secrets_ = {SECRET, receiver.url} | {it["contact_id"] for p in receiver.payloads() for it in p["recommendations"]}
    secrets_ |= {reason for p in receiver.payloads() for it in p["recommendations"] for reason in it["reasons"]}
    assert not [s for s in secrets_ if s in text]

    # A pushed recommendation_id is a served one: feedback joins to it.
    pushed = {p["owner_id"]: p for p in receiver.payloads()}
    top = pushed["o1"]["recommendations"][0]
    feedback = env.a.post("/v1/feedback", json={"recommendation_id": top["recommendation_id"], "owner_id": "o1",
                                                "contact_id": top["contact_id"], "outcome": "contacted"})
    assert feedback.status_code == 201, feedback.text

    # Nothing changed: nothing is sent, the digests are the same.
    second = env.push()
    assert len(receiver.requests) == 3 and second.unchanged == 3 and second.delivered == 0
    assert [o.digest_id for o in second.owners] == [o.digest_id for o in first.owners]

    # New events move one contact of o1 to the top: only o1's list is sent.
    shown = {it["contact_id"] for it in pushed["o1"]["recommendations"]}
    history = small.events[small.events["owner_id"] == "o1"]["contact_id"].unique()
    riser = next(c for c in history if c not in shown)
    now = pd.Timestamp.now(tz="UTC")
    events = [{"event_id": f"new-{i}", "owner_id": "o1", "contact_id": riser, "type": "meeting",
               "direction": "out" if i % 2 else "in", "occurred_at": (now - pd.Timedelta(minutes=5 * i)).isoformat()}
              for i in range(1, 6)]
    assert env.a.post("/v1/events", json={"events": events}).json() == {"inserted": 5, "duplicates": 0, "conflicts": []}
    third = env.push()
    assert len(receiver.requests) == 4 and (third.delivered, third.unchanged) == (1, 2)
    fresh = receiver.requests[-1].payload
    assert fresh["owner_id"] == "o1" and fresh["recommendations"][0]["contact_id"] == riser
    assert fresh["digest_id"] != pushed["o1"]["digest_id"]

    # The status endpoint tells the same story, newest first.
    rows = env.deliveries()
    assert len(rows) == 4 and {r["status"] for r in rows} == {"delivered"}
    assert all(r["attempts"] == 1 and r["last_status_code"] == 200 and r["last_error"] is None
               and r["delivered_at"] for r in rows)
    assert [r["digest_id"] for r in env.deliveries(owner_id="o1")] == [fresh["digest_id"], pushed["o1"]["digest_id"]]
    assert env.deliveries(limit=1)[0]["digest_id"] == fresh["digest_id"]
    assert env.deliveries(status="failed") == [] and len(env.deliveries(status="delivered")) == 4
    assert env.a.get("/v1/webhooks/deliveries", params={"status": "lost"}).status_code == 422
    assert env.a.get("/v1/webhooks/deliveries", params={"limit": 0}).status_code == 422

    # Tenant B sees none of it; erasing an owner erases their deliveries.
    assert env.deliveries(env.b) == [] and env.deliveries(env.b, owner_id="o1") == []
    assert env.b.get("/v1/webhooks").status_code == 404
    assert env.a.delete("/v1/owners/o2").status_code == 200
    assert env.deliveries(owner_id="o2") == [] and len(env.deliveries()) == 3


def test_503_is_retried_with_backoff_then_delivered(loaded: Env, receiver: Receiver) -> None:
    receiver.plan = [503, 503]
    waits: list[float] = []
    report = loaded.push(base_delay=0.2, sleep=waits.append)
    assert waits == [0.2, 0.4]  # base * 2^n between the three tries of o0
    pushes = _by_owner(report)
    assert (pushes["o0"].outcome, pushes["o0"].attempts, pushes["o0"].last_status_code) == ("delivered", 3, 200)
    assert [(pushes[o].outcome, pushes[o].attempts) for o in ("o1", "o2")] == [("delivered", 1)] * 2
    assert [r.answered for r in receiver.requests] == [503, 503, 200, 200, 200]
    assert len({r.body for r in receiver.requests[:3]}) == 1  # the same document each try
    row = loaded.deliveries(owner_id="o0")[0]
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == ("delivered", 3, 200, None)


def test_a_400_is_not_retried_and_is_tried_again_next_push(loaded: Env, receiver: Receiver) -> None:
    receiver.default = 400
    waits: list[float] = []
    report = loaded.push(sleep=waits.append)
    assert waits == [] and len(receiver.requests) == 3 and report.failed == 3
    assert {(o.outcome, o.attempts, o.last_status_code) for o in report.owners} == {("failed", 1, 400)}
    rows = loaded.deliveries(status="failed")
    assert len(rows) == 3 and all(r["last_error"] == "http 400" and r["delivered_at"] is None for r in rows)
    assert loaded.deliveries(status="delivered") == []

    receiver.default = 200  # fixed on their side: the failed digests go out on the next push
    again = loaded.push()
    assert again.delivered == 3 and [o.digest_id for o in again.owners] == [o.digest_id for o in report.owners]
    assert {(r["status"], r["attempts"], r["last_status_code"]) for r in loaded.deliveries()} == {("delivered", 2, 200)}
    assert loaded.push().unchanged == 3 and len(receiver.requests) == 6


def test_429_and_timeouts_are_retried_and_exhaustion_is_recorded(loaded: Env, receiver: Receiver) -> None:
    receiver.plan = [429, "hang"]
    started = time.monotonic()
    report = loaded.push(timeout=0.3)
    pushes = _by_owner(report)
    assert (pushes["o0"].outcome, pushes["o0"].attempts) == ("delivered", 3) and report.delivered == 3
    assert [r.answered for r in receiver.requests[:3]] == [429, "hang", 200]
    assert time.monotonic() - started < 10
    assert [r["last_error"] for r in loaded.deliveries(owner_id="o0")] == [None]

    receiver.default = 503  # a new receiver URL: every list is due again, and every try fails
    loaded.register(receiver.url + "/down")
    waits: list[float] = []
    down = loaded.push(sleep=waits.append, base_delay=0.05)
    assert down.failed == 3 and waits == [0.05, 0.1, 0.2] * 3
    assert {(o.attempts, o.last_status_code) for o in down.owners} == {(4, 503)}
    rows = loaded.deliveries()
    assert len(rows) == 3
    assert {(r["status"], r["attempts"], r["last_error"]) for r in rows} == {("failed", 4, "http 503")}

    loaded.register(f"http://127.0.0.1:{free_port()}/nobody-listens")
    refused = loaded.push(attempts=2)
    assert refused.failed == 3
    rows = loaded.deliveries()
    assert {(r["last_status_code"], r["last_error"], r["attempts"]) for r in rows} == {(None, "connection failed", 2)}


def test_cli_push(small: Dataset, receiver: Receiver, empty_store: Settings, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch, live_app) -> None:
    from introrank.cli import app as cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("INTRORANK_DATA_DIR", str(empty_store.data_dir))
    monkeypatch.setenv("INTRORANK_DATABASE_URL", url)
    monkeypatch.setenv("INTRORANK_WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("INTRORANK_WEBHOOK_ALLOWED_NETWORKS", json.dumps(LOCAL_OK["webhook_allowed_networks"]))
    settings_module.get_settings.cache_clear()
    try:
        assert settings_module.get_settings().webhook_allowed_networks == ["127.0.0.1/32"]
        with running(live_app, get_engine(settings_module.get_settings()),
                     empty_store.model_copy(update=LOCAL_OK)) as env:
            load_through_api(env.a, small)
            env.register(receiver.url)
            runner = CliRunner()
            done = runner.invoke(cli, ["push", "--tenant", "tenant-a", "--base-delay", "0.01", "--timeout", "2"])
            assert done.exit_code == 0, done.output
            assert "3 delivered" in done.output and len(receiver.requests) == 3
            again = runner.invoke(cli, ["push", "--tenant", "tenant-a", "--json"])
            assert again.exit_code == 0 and json.loads(again.output)["unchanged"] == 3
            assert runner.invoke(cli, ["push", "--tenant", "nobody"]).exit_code == 2
            no_hook = runner.invoke(cli, ["push", "--tenant", "tenant-b"])
            assert no_hook.exit_code == 2 and "no webhook" in no_hook.output
            receiver.default = 400
            env.register(receiver.url + "/strict")
            failed = runner.invoke(cli, ["push", "--tenant", "tenant-a", "--k", "3"])
            assert failed.exit_code == 1 and "3 failed" in failed.output
            monkeypatch.setenv("INTRORANK_WEBHOOK_SECRET_KEY", generate_key())  # not the key it was stored with
            settings_module.get_settings.cache_clear()
            wrong_key = runner.invoke(cli, ["push", "--tenant", "tenant-a"])
            assert wrong_key.exit_code == 2 and "cannot be decrypted" in wrong_key.output
    finally:
        settings_module.get_settings.cache_clear()
        dispose_engines()


# --- targets: public addresses only, checked at registration and at connect time -------------

@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "224.0.0.1", "240.0.0.1", "0.0.0.0", "::1", "::", "fe80::1",
                                     "fc00::1", "ff02::1", "::ffff:127.0.0.1", "2002:a00:1::1", "64:ff9b::a00:1"])
def test_special_addresses_are_not_public(address: str) -> None:
    import ipaddress

    assert not is_public(ipaddress.ip_address(address))


def test_public_addresses_are_public() -> None:
    import ipaddress

    assert all(is_public(ipaddress.ip_address(a)) for a in ("93.184.215.14", "2606:4700:4700::1111"))


def test_private_targets_are_refused_at_registration(engine: Engine, empty_store: Settings,
                                                     receiver: Receiver, live_app) -> None:
    with running(live_app, engine, empty_store) as env:  # the defaults: https to public addresses only
        port = receiver.url.split(":")[2].split("/")[0]
        for url in ("https://127.0.0.1/hook", "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/",
                    "https://[::1]/hook", "https://localhost/hook", "https://100.64.0.1/", "https://[fe80::1]/",
                    f"https://127.0.0.1:{port}/hook", "https://0.0.0.0/", "https://[::ffff:10.0.0.1]/",
                    "https://nonexistent.invalid/hook", receiver.url, "http://93.184.215.14/hook"):
            response = env.a_admin.put("/v1/webhooks", json={"url": url, "secret": SECRET})
            assert response.status_code == 422, (url, response.text)
            detail = response.json()["detail"]
            assert [d["loc"] for d in detail] == [["body", "url"]], url
            assert "127.0.0.1" not in detail[0]["msg"] and "10.0.0.1" not in detail[0]["msg"]
        assert "https" in env.a_admin.put("/v1/webhooks", json={"url": "http://93.184.215.14/"}).text
        assert env.a.get("/v1/webhooks").status_code == 404  # nothing was stored
        assert env.a_admin.put("/v1/webhooks", json={"url": "https://93.184.215.14/hook"}).status_code == 200


def test_the_allow_list_lets_the_local_receiver_in_and_nothing_else(engine: Engine, local_ok: Settings,
                                                                    receiver: Receiver, small: Dataset,
                                                                    live_app) -> None:
    with running(live_app, engine, local_ok) as env:
        for url in ("http://10.0.0.1/", "http://[::1]/hook", "http://169.254.169.254/"):  # not in 127.0.0.1/32
            assert env.a_admin.put("/v1/webhooks", json={"url": url}).status_code == 422, url
        load_through_api(env.a, small)
        env.register(receiver.url)
        assert env.push().delivered == 3 and len(receiver.requests) == 3


def test_connect_time_check_refuses_what_registration_let_through(loaded: Env, receiver: Receiver,
                                                                  empty_store: Settings) -> None:
    """Registered while allowed; the pusher runs without the allow-list (as after a DNS answer changed):
    the connection is refused before a byte is sent, once, with a coarse error."""
    waits: list[float] = []
    report = push_recommendations(loaded.engine, empty_store, loaded.tenant_a, sleep=waits.append)
    assert report.failed == 3 and receiver.requests == [] and waits == []
    assert {(r["attempts"], r["last_status_code"], r["last_error"]) for r in loaded.deliveries()} == \
        {(1, None, "target refused")}

    guarded = httpx.Client(transport=GuardedTransport(TargetPolicy(allow_http=True)))
    with guarded, pytest.raises(TargetRefused):  # a name resolving to loopback, checked on connect
        guarded.get(f"http://localhost:{receiver.url.split(':')[2]}")
    assert receiver.requests == []


def test_each_attempt_has_a_total_deadline_and_bodies_are_not_read(loaded: Env, receiver: Receiver) -> None:
    receiver.plan = ["drip"]  # ~4 s of status line, one byte per 0.1 s: no single read ever times out
    started = time.monotonic()
    dripped = loaded.push(timeout=0.5, attempts=1, k=3)
    assert time.monotonic() - started < 3
    pushes = _by_owner(dripped)
    assert (pushes["o0"].outcome, pushes["o0"].last_status_code) == ("failed", None)
    assert loaded.deliveries(owner_id="o0")[0]["last_error"] == "timeout"

    receiver.default = "big"  # 200 with a 64 MiB body: delivered without reading it
    loaded.register(receiver.url + "/big")
    started = time.monotonic()
    assert loaded.push(timeout=5.0).delivered == 3 and time.monotonic() - started < 5


# --- secrets at rest -------------------------------------------------------------------------

def _raw_webhook_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM webhooks").all()]


def test_secrets_are_stored_encrypted_and_a_wrong_or_missing_key_is_a_clear_error(
        loaded: Env, receiver: Receiver, live_app) -> None:
    key_part = SECRET.removeprefix("whsec_")
    rows = _raw_webhook_rows(loaded.engine)
    assert len(rows) == 1 and not any(key_part in str(v) or SECRET in str(v) for v in rows[0])  # not the secret
    report = loaded.push()
    assert report.delivered == 3  # deliveries still verify with the receiver's standard tooling
    for request in receiver.requests:
        assert StandardWebhook(SECRET).verify(request.body, request.headers) == request.payload

    sent = len(receiver.requests)
    wrong = loaded.settings.model_copy(update={"webhook_secret_key": SecretStr(generate_key())})
    with pytest.raises(SecretUnreadable, match="cannot be decrypted with INTRORANK_WEBHOOK_SECRET_KEY"):
        push_recommendations(loaded.engine, wrong, loaded.tenant_a)
    missing = loaded.settings.model_copy(update={"webhook_secret_key": None})
    with pytest.raises(SecretKeyMissing, match="INTRORANK_WEBHOOK_SECRET_KEY"):
        push_recommendations(loaded.engine, missing, loaded.tenant_a)
    assert len(receiver.requests) == sent  # nothing went out unsigned or wrongly signed

    admin = create_api_key(loaded.engine, "tenant-a", admin=True)
    with live_app(wrong, loaded.engine) as other:  # a server configured with another key
        client = other.client(admin)
        kept = client.put("/v1/webhooks", json={"url": receiver.url, "k": 5})  # keep a secret it cannot open
        assert kept.status_code == 422 and kept.json()["detail"][0]["loc"] == ["body", "secret"]
        assert "INTRORANK_WEBHOOK_SECRET_KEY" in kept.json()["detail"][0]["msg"]
        assert client.put("/v1/webhooks", json={"url": receiver.url, "secret": ROTATED}).status_code == 200
    with loaded.engine.connect() as conn:
        sealed = conn.execute(select(Webhook.secret_ciphertext)).scalar_one()
    assert SecretBox.from_settings(wrong).open(sealed) == ROTATED  # sealed anew under that server's key
    before = _raw_webhook_rows(loaded.engine)
    with live_app(missing, loaded.engine) as keyless:
        refused = keyless.client(admin).put("/v1/webhooks", json={"url": receiver.url + "/x", "secret": SECRET})
        assert refused.status_code == 503 and "INTRORANK_WEBHOOK_SECRET_KEY" in refused.json()["detail"]
    assert _raw_webhook_rows(loaded.engine) == before  # nothing stored


def test_key_rotation_and_bad_keys_in_settings(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    sealed = SecretBox.from_settings(Settings(data_dir=tmp_path, webhook_secret_key=old)).seal(SECRET)
    rotating = SecretBox.from_settings(Settings(data_dir=tmp_path, webhook_secret_key=f"{new}, {old}"))
    assert rotating.open(sealed) == SECRET  # the old key still opens ...
    resealed = rotating.seal(SECRET)  # ... and the new one seals
    assert SecretBox.from_settings(Settings(data_dir=tmp_path, webhook_secret_key=new)).open(resealed) == SECRET
    with pytest.raises(ValueError, match="key 2 is not a Fernet key"):
        Settings(data_dir=tmp_path, webhook_secret_key=f"{new},not-a-key")


def test_the_migration_encrypts_plaintext_secrets_or_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows stored before 0011 hold the secret itself: the upgrade seals them, or, without a key, stops
    with a message and changes nothing."""
    from alembic import command
    from alembic.config import Config

    from introrank.service.store.engine import MIGRATIONS_DIR, make_engine, write_connection

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)

    def upgrade(target: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with write_connection(engine) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, target)

    upgrade("0010_owner_incarnation")
    with write_connection(engine) as conn:
        conn.exec_driver_sql("INSERT INTO tenants (id, name, created_at) VALUES (1, 't', '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO webhooks (tenant_id, url, secret, k, created_at, updated_at) VALUES "
                             f"(1, 'https://example.com/h', '{SECRET}', 5, '2026-01-01', '2026-01-01')")
    monkeypatch.delenv("INTRORANK_WEBHOOK_SECRET_KEY")
    settings_module.get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="1 webhook secret.*plaintext.*INTRORANK_WEBHOOK_SECRET_KEY"):
            upgrade("head")
        assert SECRET in str(_raw_webhook_rows(engine))  # rolled back: still 0010, still readable
        key = generate_key()
        monkeypatch.setenv("INTRORANK_WEBHOOK_SECRET_KEY", key)
        settings_module.get_settings.cache_clear()
        upgrade("head")
        with engine.connect() as conn:
            sealed = conn.execute(select(Webhook.secret_ciphertext)).scalar_one()
        assert SECRET not in str(_raw_webhook_rows(engine))
        assert SecretBox.from_settings(Settings(data_dir=tmp_path, webhook_secret_key=key)).open(sealed) == SECRET
    finally:
        settings_module.get_settings.cache_clear()
        engine.dispose()
