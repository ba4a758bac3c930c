"""Signed webhooks: push each owner's current top-k to the tenant's URL, each distinct list once.

A tenant registers one webhook (``PUT /v1/webhooks``: a URL, a signing secret and a
list length ``k``). :func:`push_recommendations` (the ``introrank push`` command, or
any scheduler) then ranks every owner of the tenant with the served model and
POSTs one JSON document per owner::

    {"digest_id": "<64 hex>", "tenant": "acme", "owner_id": "o1", "generated_at": "2026-...Z",
     "model_version": "3", "goal": "job_search",
     "recommendations": [ ...the items of GET /v1/owners/{owner_id}/recommendations... ]}

``digest_id`` is the SHA-256 of (tenant, owner, the ranked contact ids with their
probabilities rounded to :data:`DIGEST_PRECISION` decimals, model version): an
unchanged list has the same id, and an id already delivered to a webhook is never
sent to it again (``webhook_deliveries`` records every digest). Use it as the
idempotency key on the receiving side too. A failed digest is tried again by the
next push; a digest that is superseded by a new ranking simply stays ``failed``.

Push lists are ranked without impression discounting (:data:`PUSH_POLICY`), so a
list nobody acted on does not rotate from one push to the next; everything else
(company cap, ask cool-down, ``do_not_recommend``) applies as on the pull
endpoint. A delivered list is logged like a served one, so ``POST /v1/feedback``
accepts the ``recommendation_id`` values of a pushed payload and the pull
endpoint discounts what was pushed.

Signature (Standard Webhooks)
-----------------------------
Each request carries the three headers of the Standard Webhooks spec, made by the
``standardwebhooks`` package::

    webhook-id: <digest_id>            the same on every retry of the same list
    webhook-timestamp: <unix seconds when this attempt was sent>
    webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + raw_body)>

The secret is a spec secret, ``whsec_`` + base64 of 24 to 64 random bytes: send
your own in ``PUT /v1/webhooks``, or leave ``secret`` out and the response carries
a freshly generated one, the only time it is shown (an existing webhook on the same
URL keeps its secret when none is sent). It is stored encrypted with the
installation's ``INTRORANK_WEBHOOK_SECRET_KEY`` (``introrank.service.store.secret_box``);
without that key webhooks cannot be registered or pushed. A receiver verifies with the same package,
over the raw bytes, before parsing JSON; it also rejects timestamps more than five
minutes away, so a captured request cannot be replayed later::

    from standardwebhooks import Webhook
    payload = Webhook(secret).verify(raw_body, request_headers)  # raises WebhookVerificationError

Within the tolerance window, deduplicate on ``webhook-id`` (= ``digest_id``): a retry
after a lost response re-sends the same id with a fresh timestamp.

Delivery
--------
2xx is delivered. 5xx, 429, timeouts and connection failures are retried with
exponential backoff (``base_delay * 2**n`` seconds after attempt ``n + 1``, up to
``attempts`` tries in all); any other status (4xx, an unfollowed 3xx) is a
permanent failure for this push. Redirects are not followed. Targets must be public
addresses over https unless settings allow more (``webhook_targets``), checked at
registration and again on each connection (``webhook_delivery``).

Logs carry ids and counts only: never a payload, a URL, a contact or a reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from functools import partial

import httpx
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from introrank.model.rerank import RerankPolicy
from introrank.service.errors import InvalidInputError, NotFoundError
from introrank.service.integrations.webhook_delivery import DeliveryResult, GuardedTransport, deliver, generate_secret
from introrank.service.integrations.webhook_targets import TargetPolicy
from introrank.service.serving.model_holder import ServedModel, load_served_model
from introrank.service.serving.public import to_public
from introrank.service.serving.recommend import RecommendationList, log_served, recommend
from introrank.service.settings import Settings
from introrank.service.store.concurrency import run_write
from introrank.service.store.engine import write_connection
from introrank.service.store.policy import load_policy
from introrank.service.store.secret_box import SecretBox, SecretUnreadable
from introrank.service.store.tables import DELIVERIES, WEBHOOKS, Owner, Tenant, Webhook, WebhookDelivery, utc_now

log = logging.getLogger("introrank.webhooks")

DIGEST_PRECISION = 3  # decimals of each probability that enter the digest
DEFAULT_TIMEOUT = 5.0  # seconds per HTTP attempt, all of it (resolve, connect, TLS, send, status line)
DEFAULT_ATTEMPTS = 4
DEFAULT_BASE_DELAY = 0.5  # seconds; waits 0.5, 1, 2 between the 4 attempts
STALE_CLAIM = timedelta(minutes=10)  # a "sending" row older than this is from a crashed push
PUSH_POLICY = RerankPolicy(impression_decay=1.0)  # the tenant's policy, minus impression discounting

DELIVERED, FAILED, SENDING = "delivered", "failed", "sending"
STATUSES = (DELIVERED, FAILED, SENDING)


class NoWebhookError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("webhook", "-")


# --- registration ----------------------------------------------------------------------

def get_webhook(conn: Connection, tenant_id: int) -> Row | None:
    """The tenant's webhook row (columns of :class:`Webhook`), or None."""
    return conn.execute(select(WEBHOOKS).where(Webhook.tenant_id == tenant_id)).first()


def put_webhook(conn: Connection, tenant_id: int, url: str, secret: str | None, k: int,
                box: SecretBox) -> tuple[Row, str | None]:
    """Create or replace the tenant's webhook; return its row and the secret when one was generated.

    The same URL keeps the webhook (and its delivery history, so nothing already
    delivered is re-sent: rotate the secret or change ``k`` freely; no ``secret``
    keeps the current one). A different URL is a different receiver: the old webhook
    and its history are replaced, and the next push sends every owner's current list
    to the new URL. A new webhook without a ``secret`` gets a generated one, returned
    here once: the caller hands it to the tenant and it is never shown again.

    Secrets are stored sealed by ``box`` (the installation's key). Keeping the current
    secret checks that this key still opens it: a 422 on ``secret`` otherwise, asking for
    a new one, rather than a webhook that can never be signed.
    """
    table = WEBHOOKS
    now = utc_now()
    current = get_webhook(conn, tenant_id)
    if current is not None and current.url == url:
        if secret is None:
            try:
                box.open(current.secret_ciphertext)
            except SecretUnreadable as exc:
                raise InvalidInputError(None, "secret", f"{exc}; or send a new secret") from None
        values = {"k": k, "updated_at": now} | ({"secret_ciphertext": box.seal(secret)} if secret is not None else {})
        conn.execute(update(table).where(table.c.id == current.id).values(**values))
        generated = None
    else:
        if current is not None:
            conn.execute(delete(table).where(table.c.id == current.id))
        generated = generate_secret() if secret is None else None
        sealed = box.seal(generated if generated is not None else str(secret))
        conn.execute(table.insert().values(tenant_id=tenant_id, url=url, secret_ciphertext=sealed, k=k,
                                           created_at=now, updated_at=now))
    row = get_webhook(conn, tenant_id)
    assert row is not None
    return row, generated


def delete_webhook(conn: Connection, tenant_id: int) -> None:
    """Remove the tenant's webhook and its delivery history; NotFoundError when there is none."""
    table = WEBHOOKS
    if conn.execute(delete(table).where(table.c.tenant_id == tenant_id)).rowcount == 0:
        raise NoWebhookError()


def list_deliveries(conn: Connection, tenant_id: int, owner_id: str | None = None, status: str | None = None,
                    limit: int = 50) -> list[Row]:
    """The tenant's delivery rows, newest first."""
    table = DELIVERIES
    query = select(table).where(table.c.tenant_id == tenant_id)
    if owner_id is not None:
        query = query.where(table.c.owner_id == owner_id)
    if status is not None:
        query = query.where(table.c.status == status)
    return list(conn.execute(query.order_by(table.c.id.desc()).limit(limit)).all())


# --- digest and payload ---------------------------------------------------------------

def compute_digest_id(tenant: str, owner_id: str, ranked: Sequence[tuple[str, float]], model_version: str,
                      precision: int = DIGEST_PRECISION) -> str:
    """SHA-256 hex of the list's identity: same tenant, owner, ranking and model -> same id."""
    canonical = {"v": 1, "tenant": tenant, "owner_id": owner_id, "model_version": model_version,
                 "ranked": [[contact_id, f"{probability:.{precision}f}"] for contact_id, probability in ranked]}
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(tenant: str, result: RecommendationList) -> str:
    return compute_digest_id(tenant, result.owner_id, [(it.contact_id, it.probability) for it in result.items],
                             result.model_version)


def build_payload(tenant: str, result: RecommendationList, digest_id: str) -> dict:
    public = to_public(result)
    return {"digest_id": digest_id, "tenant": tenant, "owner_id": result.owner_id,
            "generated_at": public.as_of.isoformat().replace("+00:00", "Z"),
            "model_version": result.model_version, "goal": result.goal,
            "recommendations": [item.model_dump(mode="json") for item in public.recommendations]}


def encode_payload(payload: dict) -> bytes:
    """The exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- the push ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OwnerPush:
    owner_id: str
    digest_id: str | None
    outcome: str  # delivered | failed | unchanged (already delivered) | busy (another push) | error
    attempts: int = 0
    last_status_code: int | None = None


@dataclass
class PushReport:
    tenant_id: int
    tenant: str
    model_version: str
    k: int
    owners: list[OwnerPush] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.owners if o.outcome == outcome)

    @property
    def delivered(self) -> int:
        return self.count("delivered")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    def summary(self) -> str:
        return (f"tenant {self.tenant}: {len(self.owners)} owners, {self.delivered} delivered, "
                f"{self.unchanged} unchanged, {self.failed} failed, {self.count('busy')} busy, "
                f"{self.count('error')} errors (model {self.model_version}, k={self.k})")

    def to_dict(self) -> dict:
        return {"tenant": self.tenant, "model_version": self.model_version, "k": self.k,
                "delivered": self.delivered, "unchanged": self.unchanged, "failed": self.failed,
                "owners": [asdict(o) for o in self.owners]}


def _insert_for(conn: Connection):  # noqa: ANN202 - the dialect's insert() with ON CONFLICT
    return {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[conn.dialect.name]


def _claim(engine: Engine, webhook_id: int, tenant_id: int, owner_id: str, digest_id: str,
           model_version: str) -> bool:
    """Mark (webhook, digest) as being sent by this push; False when delivered or in flight elsewhere."""
    table = DELIVERIES
    now = utc_now()
    with write_connection(engine) as conn:
        retry = conn.execute(update(table).where(
            table.c.webhook_id == webhook_id, table.c.digest_id == digest_id,
            (table.c.status == FAILED) | ((table.c.status == SENDING) & (table.c.updated_at < now - STALE_CLAIM)),
        ).values(status=SENDING, updated_at=now))
        if retry.rowcount:
            return True
        fresh = _insert_for(conn)(table).values(
            webhook_id=webhook_id, tenant_id=tenant_id, owner_id=owner_id, digest_id=digest_id,
            model_version=model_version, status=SENDING, attempts=0, created_at=now, updated_at=now)
        claimed = fresh.on_conflict_do_nothing(index_elements=["webhook_id", "digest_id"]).returning(table.c.id)
        return conn.execute(claimed).first() is not None  # (rowcount is -1 here on psycopg)


def _record(engine: Engine, webhook_id: int, digest_id: str, result: DeliveryResult) -> None:
    table = DELIVERIES
    now = utc_now()
    with write_connection(engine) as conn:
        conn.execute(update(table).where(table.c.webhook_id == webhook_id, table.c.digest_id == digest_id).values(
            status=DELIVERED if result.delivered else FAILED, attempts=table.c.attempts + result.attempts,
            last_status_code=result.last_status_code, last_error=result.last_error, updated_at=now,
            delivered_at=now if result.delivered else None))


def _tenant_name(engine: Engine, tenant_id: int) -> str:
    with engine.connect() as conn:
        name = conn.execute(select(Tenant.name).where(Tenant.id == tenant_id)).scalar_one_or_none()
    if name is None:
        raise NotFoundError("tenant", str(tenant_id))
    return name


def push_recommendations(engine: Engine, settings: Settings, tenant_id: int, *, k: int | None = None,
                         served: ServedModel | None = None, timeout: float = DEFAULT_TIMEOUT,
                         attempts: int = DEFAULT_ATTEMPTS, base_delay: float = DEFAULT_BASE_DELAY,
                         sleep: Callable[[float], None] = time.sleep) -> PushReport:
    """Send every owner's current top-k of ``tenant_id`` to its webhook, skipping delivered digests.

    ``k`` overrides the webhook's list length; ``served`` lets a caller that already
    holds a model (the service) skip loading one, otherwise the champion (or the
    heuristic) is loaded once for the whole push. Raises :class:`NoWebhookError`
    when the tenant has no webhook, :class:`SecretKeyMissing` without a key in settings
    and :class:`SecretUnreadable` when that key does not open the stored secret (both
    before anything is sent). Owners are handled one after another; a
    failure of one never stops the others. ``timeout`` bounds each HTTP attempt as
    a whole; ``sleep`` waits out the backoff between attempts.
    """
    started = time.monotonic()
    tenant = _tenant_name(engine, tenant_id)
    with engine.connect() as conn:
        hook = get_webhook(conn, tenant_id)
        owner_ids = list(conn.execute(select(Owner.owner_id).where(Owner.tenant_id == tenant_id)
                                      .order_by(Owner.owner_id)).scalars())
    if hook is None:
        raise NoWebhookError()
    secret = SecretBox.from_settings(settings).open(hook.secret_ciphertext)
    served = served if served is not None else load_served_model(settings, tenant)
    size = k if k is not None else hook.k
    report = PushReport(tenant_id, tenant, served.version, size)
    transport = GuardedTransport(TargetPolicy.from_settings(settings))
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False) as client:
        send = partial(deliver, client, attempts=attempts, base_delay=base_delay, timeout=timeout, sleep=sleep)
        for owner_id in owner_ids:
            report.owners.append(_push_owner(engine, partial(send, secret=secret), hook, tenant_id, tenant, owner_id,
                                             served, size))
    log.info("webhook push finished: %d owners, %d delivered, %d unchanged, %d failed",
             len(report.owners), report.delivered, report.unchanged, report.failed,
             extra={"tenant_id": tenant_id, "rows": len(report.owners), "model_version": served.version,
                    "seconds": round(time.monotonic() - started, 3)})
    return report


def _push_owner(engine: Engine, send: Callable[..., DeliveryResult], hook: Row, tenant_id: int, tenant: str,
                owner_id: str, served: ServedModel, k: int) -> OwnerPush:
    try:
        with engine.connect() as conn:
            policy = replace(load_policy(conn, tenant_id), impression_decay=PUSH_POLICY.impression_decay)
            result = recommend(conn, tenant_id, owner_id, served, k, policy=policy)
    except NotFoundError:  # erased while the push ran
        return OwnerPush(owner_id, None, "error")
    except Exception as exc:  # one bad owner never stops the push
        log.warning("webhook push: ranking failed for owner %s", owner_id,
                    extra={"tenant_id": tenant_id, "error": type(exc).__name__})
        return OwnerPush(owner_id, None, "error")
    digest_id = digest_of(tenant, result)
    if not _claim(engine, hook.id, tenant_id, owner_id, digest_id, result.model_version):
        with engine.connect() as conn:
            status = conn.execute(select(WebhookDelivery.status).where(
                WebhookDelivery.webhook_id == hook.id, WebhookDelivery.digest_id == digest_id)).scalar_one_or_none()
        return OwnerPush(owner_id, digest_id, "unchanged" if status == DELIVERED else "busy")
    body = encode_payload(build_payload(tenant, result, digest_id))
    outcome = send(hook.url, body=body, message_id=digest_id)
    _record(engine, hook.id, digest_id, outcome)
    if outcome.delivered:
        try:  # feedback can now join to the pushed recommendation ids
            run_write(engine, lambda conn: log_served(conn, tenant_id, result))
        except Exception as exc:  # a contact erased meanwhile: the delivery itself stands
            log.warning("webhook push: could not log the delivered list of owner %s", owner_id,
                        extra={"tenant_id": tenant_id, "error": type(exc).__name__})
    log.info("webhook digest %s for owner %s: %s after %d attempt(s)", digest_id[:12], owner_id,
             DELIVERED if outcome.delivered else FAILED, outcome.attempts,
             extra={"tenant_id": tenant_id, "status": outcome.last_status_code, "error": outcome.last_error})
    return OwnerPush(owner_id, digest_id, DELIVERED if outcome.delivered else FAILED, outcome.attempts,
                     outcome.last_status_code)
