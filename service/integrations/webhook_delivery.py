"""Sending one signed webhook request: Standard Webhooks signature, checked peer, bounded attempt, retries.

Signing is the ``standardwebhooks`` package's, so a receiver verifies with the same
library (or any Standard Webhooks tooling) instead of re-implementing an HMAC.

The transport is built on httpcore with a network backend of our own because the
two guarantees the pusher makes live at the socket: the address connected to is
the one :class:`~introrank.service.integrations.webhook_targets.TargetPolicy` just
checked (resolved once per connection, never handed back to a resolver), and every
socket operation of an attempt is cut to what is left of that attempt's deadline,
so a receiver that drips its answer a byte at a time cannot hold the push.

Failures are recorded coarsely ("timeout", "connection failed", "http 502",
"target refused"): a socket error's text would let a tenant map the network behind
the pusher, and a response body may carry anything.
"""

from __future__ import annotations

import base64
import contextvars
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from math import floor
from typing import Any

import httpcore
import httpx
import tenacity
from standardwebhooks import Webhook

from introrank.service.integrations.webhook_targets import TargetPolicy, TargetRefused
from introrank.service.schemas import WEBHOOK_SECRET_PREFIX as SECRET_PREFIX

SECRET_BYTES = 32  # generated secrets; the spec asks for 24 to 64
MAX_RESPONSE_BYTES = 4096  # of a receiver's answer we read at most this much (only the status matters)
MAX_WAIT = 60.0  # seconds; the longest backoff between two attempts
USER_AGENT = "introrank-webhooks/2"

# The end (time.monotonic()) of the attempt running in this context; every socket
# operation of the guarded transport is clamped to it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("webhook_deadline", default=None)


# --- secrets and signatures -----------------------------------------------------------------

def generate_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signer_for(secret: str) -> Webhook:
    """A ``whsec_`` secret signs with its decoded bytes (the spec); a secret stored before the
    spec was adopted signs with its UTF-8 bytes, which ``Webhook(secret.encode())`` verifies."""
    return Webhook(secret) if secret.startswith(SECRET_PREFIX) else Webhook(secret.encode())


def signature_headers(signer: Webhook, message_id: str, body: bytes, sent: datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed at ``sent`` (now)."""
    sent = datetime.now(UTC) if sent is None else sent
    return {"webhook-id": message_id, "webhook-timestamp": str(floor(sent.timestamp())),
            "webhook-signature": signer.sign(message_id, sent, body.decode())}


# --- the guarded transport --------------------------------------------------------------------

def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("attempt deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses unless every address is allowed, connects to a checked one.

    httpcore still sends the URL's host as ``Host`` and as the TLS server name, so
    virtual hosting and certificate checks see the name, while the socket goes to
    the address that was checked.
    """

    def __init__(self, policy: TargetPolicy) -> None:
        self._policy, self._inner = policy, httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = self._policy.addresses(host, port)  # TargetRefused passes through to deliver()
        failure: Exception = httpcore.ConnectError("no address")
        for ip in addresses:
            try:
                stream = self._inner.connect_tcp(str(ip), port, _clamp(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook targets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_CORE_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError,
                httpcore.UnsupportedProtocol)


def _as_httpx(exc: Exception, request: httpx.Request | None = None) -> httpx.TransportError:
    """httpcore's error as the httpx one of the same name, as httpx's own transport does."""
    kind = getattr(httpx, type(exc).__name__, httpx.TransportError)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.TransportError
    return kind(str(exc), request=request)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except _CORE_ERRORS as exc:
            raise _as_httpx(exc) from exc

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that only reaches addresses ``policy`` allows, proxies ignored."""

    def __init__(self, policy: TargetPolicy, max_connections: int = 4) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=max_connections,
                                             keepalive_expiry=5.0, network_backend=_GuardedBackend(policy))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(method=request.method,
                                url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                                                 port=request.url.port, target=request.url.raw_path),
                                headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        try:
            response = self._pool.handle_request(core)
        except _CORE_ERRORS as exc:
            raise _as_httpx(exc, request) from exc
        assert isinstance(response.stream, Iterable)  # the sync pool's
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


# --- one delivery -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    last_status_code: int | None
    last_error: str | None


@dataclass(frozen=True)
class _Try:
    status_code: int | None
    error: str | None
    retryable: bool


def _drain(response: httpx.Response) -> None:
    """Read at most a few KB (a small answer keeps the connection reusable); closing drops the rest."""
    seen = 0
    try:
        for chunk in response.iter_raw():
            seen += len(chunk)
            if seen >= MAX_RESPONSE_BYTES:
                break
    except httpx.TransportError:
        pass  # the status line is what counts


def _attempt(client: httpx.Client, url: str, signer: Webhook, body: bytes, message_id: str,
             timeout: float) -> _Try:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **signature_headers(signer, message_id, body)}  # a fresh timestamp each attempt
    token = _DEADLINE.set(time.monotonic() + timeout)
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            _drain(response)
    except TargetRefused:
        return _Try(None, "target refused", False)
    except httpx.TimeoutException:
        return _Try(None, "timeout", True)
    except httpx.TransportError:
        return _Try(None, "connection failed", True)
    finally:
        _DEADLINE.reset(token)
    status = response.status_code
    if 200 <= status < 300:
        return _Try(status, None, False)
    return _Try(status, f"http {status}", status == 429 or status >= 500)


def deliver(client: httpx.Client, url: str, secret: str, body: bytes, message_id: str, *, attempts: int,
            base_delay: float, timeout: float, sleep: Callable[[float], None] = time.sleep) -> DeliveryResult:
    """POST ``body`` signed; retry 5xx, 429, timeouts and connection failures with exponential backoff.

    Waits ``base_delay * 2**n`` seconds after failed attempt ``n + 1``; ``timeout`` is
    each attempt's whole budget (resolve, connect, TLS, send, status line). Any other
    status (4xx, an unfollowed 3xx) and a refused target end the delivery at once.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=base_delay, max=MAX_WAIT),
        retry=tenacity.retry_if_result(lambda t: t.retryable),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        sleep=sleep,
    )
    last: _Try = retrying(_attempt, client, url, signer_for(secret), body, message_id, timeout)
    tries = int(retrying.statistics.get("attempt_number", 1))
    delivered = last.status_code is not None and 200 <= last.status_code < 300
    return DeliveryResult(delivered, tries, last.status_code, last.error)
