"""Bodies are limited while they stream, and a keyless request is refused before its body is read.

A raw socket sends a chunked body from a generator and looks for the answer
between chunks, as a hostile client would: the server must answer early (after
a few MB of a 300 MB body) and its process must not grow with the body.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from introrank.service.api.app import create_app
from introrank.service.api.body_gate import EVENT_BYTES, BodyGate
from introrank.service.schemas import MAX_EVENTS_PER_BATCH
from introrank.service.settings import Settings
from introrank.service.store.keys import create_api_key

MB = 1024 * 1024
EVENT = b'{"event_id": "e", "owner_id": "o", "contact_id": "c", "occurred_at": "2025-01-01T00:00:00Z"},'


def _events_body(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A never-ending-looking events batch, ``total`` bytes in ``chunk``-sized pieces."""
    yield b'{"events": ['
    piece = EVENT * (chunk // len(EVENT))
    for _ in range(total // len(piece)):
        yield piece


def _stream(base: str, path: str, headers: dict[str, str], body: Iterator[bytes]) -> tuple[int | None, int, int]:
    """POST ``body`` chunked; stop at the first byte of an answer. -> (status, bytes sent, peak RSS growth)."""
    url = urlsplit(base)
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    sent = 0
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Content-Type: application/json",
                "Transfer-Encoding: chunked", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for i, piece in enumerate(body):
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(piece)
            if i % 16 == 0:
                peak = max(peak, process.memory_info().rss)
        answer = b""
        try:
            while b"\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    peak = max(peak, process.memory_info().rss)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return status, sent, peak - baseline


@pytest.fixture
def gated(sqlite_engine, tmp_path: Path, live_app):
    """(base url, key) of a live app on the default limits."""
    key = create_api_key(sqlite_engine, "tenant")
    return live_app(Settings(data_dir=tmp_path / "store"), sqlite_engine).base, key


def test_keyless_chunked_body_is_refused_before_it_is_read(gated):
    base, _ = gated
    status, sent, growth = _stream(base, "/v1/events", {}, _events_body(300 * MB))
    assert status == 401
    assert sent < 32 * MB, f"the server read {sent} bytes of a keyless body"
    assert growth < 100 * MB
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_chunked_body_over_the_route_limit_is_413_as_it_streams(gated):
    base, key = gated
    limit = MAX_EVENTS_PER_BATCH * EVENT_BYTES + 64 * 1024
    status, sent, growth = _stream(base, "/v1/events", {"X-API-Key": key}, _events_body(300 * MB))
    assert status == 413
    assert limit < sent < limit + 32 * MB, f"answered after {sent} bytes; the limit is {limit}"
    assert growth < 100 * MB
    assert httpx.get(f"{base}/v1/model", headers={"X-API-Key": key}).status_code == 200


def test_the_setting_caps_every_route(sqlite_engine, tmp_path: Path, live_app):
    key = create_api_key(sqlite_engine, "tenant")
    base = live_app(Settings(data_dir=tmp_path / "store", max_body_bytes=MB), sqlite_engine).base
    status, sent, _ = _stream(base, "/v1/score", {"Authorization": f"Bearer {key}"}, _events_body(20 * MB))
    assert status == 413 and sent < 16 * MB
    declared = httpx.post(f"{base}/v1/events", content=b" " * (MB + 1), headers={"X-API-Key": key})
    assert declared.status_code == 413 and declared.json()["detail"] == f"request body over the {MB}-byte limit"


def test_chunked_bodies_under_the_limit_reach_the_route(gated):
    base, key = gated
    body = iter([b'{"events"', b": []}"])  # a generator body goes out chunked
    answer = httpx.post(f"{base}/v1/events", content=body, headers={"X-API-Key": key,
                                                                     "Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "events"]
    keyless = httpx.post(f"{base}/v1/events", json={"events": []})
    assert keyless.status_code == 401 and keyless.headers["www-authenticate"] == "Bearer"
    assert keyless.json()["detail"].startswith("missing API key")


def test_every_data_route_is_gated(tmp_path: Path):
    """The gate reads the routes: each body-carrying /v1 route of the OpenAPI schema needs a key."""
    app = create_app(Settings(data_dir=tmp_path))
    gate: BodyGate = app.state.body_gate
    body_routes = [(m.upper(), path) for path, item in app.openapi()["paths"].items() for m in item
                   if m in ("post", "put")]
    assert len(body_routes) >= 10
    for method, path in body_routes:
        concrete = path.replace("{owner_id}", "o").replace("{contact_id}", "c")
        assert gate.rule(method, concrete)[1] is path.startswith("/v1/"), (method, path)
    assert gate.rule("POST", "/v1/events")[0] == MAX_EVENTS_PER_BATCH * EVENT_BYTES + 64 * 1024
    assert gate.rule("PUT", "/v1/owners/o")[0] == MB
