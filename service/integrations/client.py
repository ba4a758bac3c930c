"""A typed Python client for the introrank HTTP API, on httpx.

CRM integrations call introrank from sync jobs and request handlers. This client
gives them the models of ``introrank.service.schemas`` instead of raw JSON, turns error
responses into exceptions that carry the server's ``detail``, retries only what
is safe to retry, and splits event uploads into batches the server accepts.

Request bodies may be the schema models or plain dicts; dicts are sent as they
are, so the server (not a possibly older client) is the one judge of validity.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import islice
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import pydantic_core
import tenacity

from introrank.model.constants import DEFAULT_K
from introrank.service.schemas import (
    MAX_CONTACTS_PER_BATCH,
    MAX_EVENTS_PER_BATCH,
    ContactItem,
    ContactUpsert,
    DeliveryList,
    DeliveryPublic,
    EventBatchResult,
    EventConflict,
    EventIn,
    FeedbackOutcome,
    GoalName,
    JobPublic,
    KeepWarmPublic,
    ModelPublic,
    OwnerPublic,
    OwnerUpsert,
    RecommendationsPublic,
    ScoreEvent,
    ScoreOwner,
    WebhookCreated,
    WebhookPublic,
)

RETRY_STATUSES = frozenset({429, 503})  # the server asks to come back later and did nothing
MAX_RETRY_WAIT = 30.0  # seconds; a longer Retry-After is capped so a call never hangs for hours
# The request never reached the server: retrying cannot apply anything twice.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Possibly applied before the failure: retried only for idempotent calls.
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class IntrorankError(Exception):
    """An error response. ``detail`` is the server's ``detail``; ``body`` the whole body.

    ``request_id`` is the ``X-Request-ID`` the client sent (the same on every retry),
    which the server's JSON logs carry: quote it when asking what went wrong.
    """

    def __init__(self, status_code: int, detail: Any, body: Any, request_id: str | None = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code, self.detail, self.body, self.request_id = status_code, detail, body, request_id


class AuthenticationError(IntrorankError):
    """401: missing or invalid API key; 403: the key lacks the admin scope."""


class NotFoundError(IntrorankError):
    """404: no such owner or contact for this tenant (another tenant's ids look the same)."""


class ValidationError(IntrorankError):
    """422: ``detail`` is the server's list of ``{loc, msg, type}``."""


class PayloadTooLargeError(IntrorankError):
    """413: the body is over the server's limit; send smaller batches."""


class ServerError(IntrorankError):
    """5xx (a 503 only once the retries are spent)."""


_ERRORS: dict[int, type[IntrorankError]] = {401: AuthenticationError, 403: AuthenticationError,
                                            404: NotFoundError, 413: PayloadTooLargeError,
                                            422: ValidationError}


def _error(response: httpx.Response, request_id: str) -> IntrorankError:
    try:
        body = response.json()
    except ValueError:  # a proxy's HTML page, an empty body
        body = response.text
    detail = body.get("detail", body) if isinstance(body, dict) else body
    default = ServerError if response.status_code >= 500 else IntrorankError
    return _ERRORS.get(response.status_code, default)(response.status_code, detail, body, request_id)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if readable."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError):
        return None


def _batches(items: Iterable[Any], size: int, limit: int) -> Iterator[tuple[int, list[Any]]]:
    """``(start, batch)`` pairs, read lazily so a generator streams without being held whole."""
    if not 1 <= size <= limit:
        raise ValueError(f"batch_size must be between 1 and {limit}, got {size}")
    it, start = iter(items), 0
    while batch := list(islice(it, size)):
        yield start, batch
        start += len(batch)


def _seg(value: str) -> str:
    return quote(value, safe="")


class _RetryAfterOr(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when a 429/503 carries one, else ``fallback``; capped at ``cap``."""

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback, self.cap = fallback, cap

    def __call__(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            asked = _retry_after(outcome.result().headers.get("Retry-After"))
            if asked is not None:
                return min(max(asked, 0.0), self.cap)
        return min(self.fallback(state), self.cap)


class IntrorankClient:
    """``with IntrorankClient(url, key) as ir: ir.recommendations("u42")``.

    ``retries`` extra attempts after a 429, a 503 or a transport error, waiting
    ``backoff * 2**attempt`` seconds (with jitter, so many workers do not return
    together) or the server's ``Retry-After``, never longer than ``max_wait``.
    ``transport`` is handed to httpx. Errors raise an ``IntrorankError`` subclass; a
    transport error that outlives the retries propagates as the ``httpx.TransportError``
    it is.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.2, max_wait: float = MAX_RETRY_WAIT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}",
                                           "User-Agent": "introrank-client/0.1.0"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _retrying(self, attempts: int, retryable: tuple[type[Exception], ...]) -> tenacity.Retrying:
        # backoff * 2**n * uniform(0.5, 1): half of it fixed, half drawn at random
        half = self.backoff / 2
        jittered = tenacity.wait_exponential(multiplier=half) + tenacity.wait_random_exponential(multiplier=half)
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            retry=tenacity.retry_if_exception_type(retryable)
            | tenacity.retry_if_result(lambda response: response.status_code in RETRY_STATUSES),
            wait=_RetryAfterOr(jittered, self.max_wait),
            # Out of tries: the last answer is the caller's (an error response or the exception).
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )

    def _request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None,
                 idempotent: bool = True, retries: int | None = None) -> Any:
        """Send one call with retries; return its decoded JSON or raise an ``IntrorankError``.

        A call that is not idempotent (feedback) is retried after a transport error only
        when the request surely never left, so one outcome is never stored twice.
        """
        headers = {"X-Request-ID": uuid.uuid4().hex}  # one id across retries: the logs join them
        content = None if body is None else pydantic_core.to_json(body)
        if content is not None:
            headers["Content-Type"] = "application/json"
        retryable = _UNSENT + _MAYBE_SENT if idempotent else _UNSENT
        attempts = max(self.retries if retries is None else retries, 0) + 1
        response: httpx.Response = self._retrying(attempts, retryable)(
            self._http.request, method, path, content=content, params=params, headers=headers)
        if response.is_success:
            return response.json()
        raise _error(response, headers["X-Request-ID"])

    # Data ---------------------------------------------------------------------------------

    def upsert_owner(self, owner_id: str, owner: OwnerUpsert | Mapping[str, Any]) -> OwnerPublic:
        """Create or replace the owner (fields left out take their defaults)."""
        return OwnerPublic.model_validate(self._request("PUT", f"/v1/owners/{_seg(owner_id)}", body=owner))

    def upsert_contact(self, owner_id: str, contact_id: str,
                       contact: ContactUpsert | Mapping[str, Any]) -> int:
        """Create or replace one contact of an existing owner; returns 1."""
        path = f"/v1/owners/{_seg(owner_id)}/contacts/{_seg(contact_id)}"
        return int(self._request("PUT", path, body=contact)["upserted"])

    def upsert_contacts(self, owner_id: str, contacts: Iterable[ContactItem | Mapping[str, Any]], *,
                        batch_size: int = MAX_CONTACTS_PER_BATCH) -> int:
        """Create or replace contacts in batches the server accepts; returns how many."""
        path = f"/v1/owners/{_seg(owner_id)}/contacts"
        return sum(int(self._request("PUT", path, body={"contacts": batch})["upserted"])
                   for _, batch in _batches(contacts, batch_size, MAX_CONTACTS_PER_BATCH))

    def post_events(self, events: Iterable[EventIn | Mapping[str, Any]], *,
                    batch_size: int = MAX_EVENTS_PER_BATCH) -> EventBatchResult:
        """Send any number of events (a generator streams) in batches; sums the counts.

        Each batch is all or nothing and idempotent on ``event_id``. When one fails,
        the batches before it are stored (the exception's note says which batch), and
        re-sending the whole stream is safe: stored events count as duplicates. An
        event_id stored with another payload comes back in ``conflicts``, its
        ``index`` counted from the start of the whole stream.
        """
        inserted = duplicates = 0
        conflicts: list[EventConflict] = []
        for start, batch in _batches(events, batch_size, MAX_EVENTS_PER_BATCH):
            try:
                result = EventBatchResult.model_validate(self._request("POST", "/v1/events",
                                                                       body={"events": batch}))
            except IntrorankError as exc:
                exc.add_note(f"failed batch: events[{start}:{start + len(batch)}] (locs index into it); "
                             f"{start} earlier events were accepted")
                raise
            inserted, duplicates = inserted + result.inserted, duplicates + result.duplicates
            conflicts += [c.model_copy(update={"index": start + c.index}) for c in result.conflicts]
        return EventBatchResult(inserted=inserted, duplicates=duplicates, conflicts=conflicts)

    def recommendations(self, owner_id: str, k: int = DEFAULT_K, goal: GoalName | None = None,
                        as_of: datetime | None = None) -> RecommendationsPublic:
        """The ranked list to show; ``as_of`` (timezone-aware) replays a past moment, unlogged."""
        params: dict[str, Any] = {"k": k}
        if goal is not None:
            params["goal"] = goal
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        path = f"/v1/owners/{_seg(owner_id)}/recommendations"
        return RecommendationsPublic.model_validate(self._request("GET", path, params=params))

    def score(self, owner: ScoreOwner | Mapping[str, Any], contacts: Sequence[ContactItem | Mapping[str, Any]],
              events: Sequence[ScoreEvent | Mapping[str, Any]], *, k: int = DEFAULT_K,
              goal: GoalName | None = None, as_of: datetime | None = None) -> RecommendationsPublic:
        """Stateless ranking of the data in the body, for a CRM that keeps its own; nothing is stored."""
        body = {"owner": owner, "contacts": contacts, "events": events, "k": k, "goal": goal, "as_of": as_of}
        return RecommendationsPublic.model_validate(self._request("POST", "/v1/score", body=body))

    def keep_warm(self, owner_id: str, k: int = DEFAULT_K, as_of: datetime | None = None) -> KeepWarmPublic:
        """Valuable ties that are cooling, by what is at stake, each with a low-effort touch."""
        params: dict[str, Any] = {"k": k}
        if as_of is not None:
            params["as_of"] = as_of.isoformat()
        path = f"/v1/owners/{_seg(owner_id)}/keep-warm"
        return KeepWarmPublic.model_validate(self._request("GET", path, params=params))

    def feedback(self, owner_id: str, contact_id: str, outcome: FeedbackOutcome, *,
                 recommendation_id: str | None = None, occurred_at: datetime | None = None,
                 event_id: str | None = None) -> int:
        """Record what came of a contact; returns the feedback id.

        Pass the listed item's ``recommendation_id`` so the outcome joins to what was
        shown. Each call stores a row, hence the cautious retries.
        """
        fields = {"owner_id": owner_id, "contact_id": contact_id, "outcome": outcome,
                  "recommendation_id": recommendation_id, "occurred_at": occurred_at, "event_id": event_id}
        body = {k: v for k, v in fields.items() if v is not None}
        return int(self._request("POST", "/v1/feedback", body=body, idempotent=False)["feedback_id"])

    def delete_owner(self, owner_id: str) -> None:
        """Erase the owner and every row of theirs. A retry after a lost reply may say 404."""
        self._request("DELETE", f"/v1/owners/{_seg(owner_id)}")

    def delete_contact(self, owner_id: str, contact_id: str) -> None:
        """Erase one contact, its events and aggregates. A retry after a lost reply may say 404."""
        self._request("DELETE", f"/v1/owners/{_seg(owner_id)}/contacts/{_seg(contact_id)}")

    # Operations ---------------------------------------------------------------------------

    def model(self) -> ModelPublic:
        """The model serving now (``heuristic`` true when no champion is loaded)."""
        return ModelPublic.model_validate(self._request("GET", "/v1/model"))

    def reload(self) -> ModelPublic:
        """Admin: load the registry's current champion and serve it."""
        return ModelPublic.model_validate(self._request("POST", "/v1/admin/reload"))

    def health(self) -> dict[str, Any]:
        """Liveness: the process answers."""
        return self._request("GET", "/healthz")

    def ready(self) -> dict[str, Any]:
        """Readiness; not ready raises ``ServerError`` (503, reason in ``body``) at once:
        a probe wants the state now, not after the retries."""
        return self._request("GET", "/readyz", retries=0)

    def retrain(self) -> JobPublic:
        """Admin: start retraining on this tenant's data; poll ``job(job.job_id)``.

        Each call starts a job, so it is retried only if the request never left.
        """
        return JobPublic.model_validate(self._request("POST", "/v1/admin/retrain", idempotent=False))

    def job(self, job_id: str) -> JobPublic:
        """Admin: a background job's state (queued, running, succeeded, failed) and result."""
        return JobPublic.model_validate(self._request("GET", f"/v1/admin/jobs/{_seg(job_id)}"))

    # Webhooks -----------------------------------------------------------------------------

    def put_webhook(self, url: str, secret: str | None = None, k: int = DEFAULT_K) -> WebhookCreated:
        """Admin: where the tenant's lists are pushed, signed with a Standard Webhooks ``whsec_`` secret.

        Without ``secret`` a new webhook gets a generated one, in the result's ``secret``
        only this once: hand it to the receiver now.
        """
        body = {"url": url, "k": k} | ({"secret": secret} if secret is not None else {})
        return WebhookCreated.model_validate(self._request("PUT", "/v1/webhooks", body=body))

    def webhook(self) -> WebhookPublic:
        """The tenant's webhook; ``NotFoundError`` when none is registered."""
        return WebhookPublic.model_validate(self._request("GET", "/v1/webhooks"))

    def delete_webhook(self) -> None:
        """Admin: remove the webhook and its delivery history."""
        self._request("DELETE", "/v1/webhooks")

    def webhook_deliveries(self, owner_id: str | None = None, status: str | None = None,
                           limit: int = 50) -> list[DeliveryPublic]:
        """The tenant's pushed digests, newest first (``status``: delivered, failed, sending)."""
        params = {k: v for k, v in {"owner_id": owner_id, "status": status, "limit": limit}.items()
                  if v is not None}
        body = self._request("GET", "/v1/webhooks/deliveries", params=params)
        return DeliveryList.model_validate(body).deliveries
