"""What the HTTP edge checks before a route reads a body: a key is there, and the body fits.

A request to an authenticated route that carries no key at all is answered 401
before a byte of its body is read (the key itself is checked by the
``PrincipalDep`` dependency, against the store). A body is counted as it streams,
chunked or not, and answered 413 as soon as it passes its route's limit, so
nothing beyond the limit is ever held; a declared ``Content-Length`` over it is
answered at once. Both early answers close the connection: the rest of the body
is never read.

Each route's limit is sized to its item caps (``service/schemas.py``) at a
generous per-item size; ``INTRORANK_MAX_BODY_BYTES`` caps every route, and the
smaller of the two wins.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from introrank.service.api.deps import get_principal, key_from_headers
from introrank.service.schemas import (
    MAX_CONTACTS_PER_BATCH,
    MAX_EVENTS_PER_BATCH,
    MAX_SCORE_CONTACTS,
    MAX_SCORE_EVENTS,
)
from introrank.service.store.keys import MISSING_KEY

ENVELOPE_BYTES = 64 * 1024  # the owner of a score request, keys, whitespace
EVENT_BYTES = 1024  # three 200-character ids, a timestamp, two enums, the keys: ~800
SCORE_EVENT_BYTES = 768  # two ids, a timestamp, two enums, the keys: ~550
CONTACT_BYTES = 12 * 1024  # an id, four 200-character texts, 50 tags of 200: ~11,400
DEFAULT_BODY_BYTES = 1024 * 1024  # one owner, contact, feedback, policy or webhook is a few KB
ROUTE_BODY_BYTES: dict[tuple[str, str], int] = {
    ("POST", "/v1/events"): MAX_EVENTS_PER_BATCH * EVENT_BYTES + ENVELOPE_BYTES,
    ("PUT", "/v1/owners/{owner_id}/contacts"): MAX_CONTACTS_PER_BATCH * CONTACT_BYTES + ENVELOPE_BYTES,
    ("POST", "/v1/score"): MAX_SCORE_CONTACTS * CONTACT_BYTES + MAX_SCORE_EVENTS * SCORE_EVENT_BYTES
    + ENVELOPE_BYTES,
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    """Raised out of ``receive`` into the route, which answers it like any HTTPException."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {limit}-byte limit", headers={"Connection": "close"})


def _needs_key(dependant: Dependant) -> bool:
    return any(d.call is get_principal or _needs_key(d) for d in dependant.dependencies)


class BodyGate:
    """Per (method, route): the body limit and whether a key is required, read off the app's routes."""

    def __init__(self, routes: Iterable[BaseRoute], cap: int) -> None:
        self.cap = cap
        self.default = min(DEFAULT_BODY_BYTES, cap)
        self.routes = []
        http_routes = [r for r in routes if isinstance(r, Route)]  # mounts and websockets take no body
        for route in http_routes:
            dependant = getattr(route, "dependant", None)
            methods = (route.methods or set()) & _BODY_METHODS
            for method in methods:
                limit = min(ROUTE_BODY_BYTES.get((method, route.path), DEFAULT_BODY_BYTES), cap)
                needs_key = dependant is not None and _needs_key(dependant)
                self.routes.append((method, route.path_regex, limit, needs_key))
        missing = set(ROUTE_BODY_BYTES) - {(m, r.path) for r in http_routes for m in r.methods or ()}
        if missing:
            raise ValueError(f"body limits for routes the app does not have: {sorted(missing)}")

    def rule(self, method: str, path: str) -> tuple[int, bool]:
        """(body limit, key required) for a request."""
        if method in _BODY_METHODS:
            for route_method, regex, limit, needs_key in self.routes:
                if route_method == method and regex.match(path):
                    return limit, needs_key
        return self.default, False

    def refusal(self, headers: Headers, limit: int, needs_key: bool) -> JSONResponse | None:
        """The answer a request gets on its headers alone, if it gets one."""
        close = {"Connection": "close"} if _has_body(headers) else {}
        if needs_key and key_from_headers(headers.get("authorization"), headers.get("x-api-key")) is None:
            return JSONResponse({"detail": MISSING_KEY}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer", **close})
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return JSONResponse({"detail": f"request body over the {limit}-byte limit"}, status_code=413,
                                headers=close)
        return None


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that counts body bytes and raises ``BodyTooLarge`` the moment they pass ``limit``."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_limited
