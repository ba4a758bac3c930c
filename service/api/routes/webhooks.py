"""The tenant's webhook (register, read, remove) and the status of its deliveries.

Changing where a tenant's recommendations are sent needs an **admin** key of the
tenant (``PUT`` and ``DELETE``); any key of the tenant may read the webhook and its
deliveries. The secret is a Standard Webhooks signing secret (``whsec_...``): the
tenant's own, or generated here and returned by that one ``PUT``; never returned again,
and stored only encrypted with the server's ``INTRORANK_WEBHOOK_SECRET_KEY`` (without that
setting, registering answers 503 naming it).
Another tenant's key sees 404 / an empty list, never this tenant's webhook.

The push process calls the registered URL from the server's network, so the URL
must be https and resolve to public addresses only (a 422 on ``url`` otherwise);
an on-premises install allows http or named private ranges in settings. The rule is
enforced again on every connection the pusher makes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Row

from introrank.service.api.deps import AdminDep, EngineDep, ReadDep, SettingsDep
from introrank.service.errors import InvalidInputError
from introrank.service.integrations import webhooks
from introrank.service.integrations.webhook_targets import TargetPolicy, TargetRefused
from introrank.service.schemas import (
    Deleted,
    DeliveryList,
    DeliveryPublic,
    ExternalId,
    WebhookCreated,
    WebhookPublic,
    WebhookUpsert,
)
from introrank.service.store.concurrency import run_write
from introrank.service.store.secret_box import SecretBox

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _public(row: Row) -> WebhookPublic:
    return WebhookPublic(url=row.url, k=row.k, created_at=row.created_at, updated_at=row.updated_at)


@router.put("", response_model=WebhookCreated)
def put_webhook(body: WebhookUpsert, principal: AdminDep, engine: EngineDep, settings: SettingsDep) -> WebhookCreated:
    """Register (or replace) the tenant's webhook. Same URL: keeps the delivery history; new URL: starts afresh.

    Without a ``secret``, a new webhook gets a generated one in this response's ``secret``: store it now.
    """
    url = str(body.url)
    try:
        TargetPolicy.from_settings(settings).check_url(url)
    except TargetRefused as exc:
        raise InvalidInputError(None, "url", str(exc)) from None
    box = SecretBox.from_settings(settings)  # no key: 503 naming the setting, and nothing stored
    row, generated = run_write(engine, lambda conn: webhooks.put_webhook(conn, principal.tenant_id, url, body.secret,
                                                                         body.k, box))
    return WebhookCreated(**_public(row).model_dump(), secret=generated)


@router.get("", response_model=WebhookPublic)
def get_webhook(principal: ReadDep, engine: EngineDep) -> WebhookPublic:
    with engine.connect() as conn:
        row = webhooks.get_webhook(conn, principal.tenant_id)
    if row is None:
        raise webhooks.NoWebhookError()
    return _public(row)


@router.delete("", response_model=Deleted)
def delete_webhook(principal: AdminDep, engine: EngineDep) -> Deleted:
    """Remove the webhook and its delivery history."""
    run_write(engine, lambda conn: webhooks.delete_webhook(conn, principal.tenant_id))
    return Deleted()


@router.get("/deliveries", response_model=DeliveryList)
def get_deliveries(
    principal: ReadDep,
    engine: EngineDep,
    owner_id: Annotated[ExternalId | None, Query()] = None,
    status: Annotated[Literal["delivered", "failed", "sending"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    """The tenant's digests, newest first: status, attempts, last HTTP status and error."""
    with engine.connect() as conn:
        rows = webhooks.list_deliveries(conn, principal.tenant_id, owner_id, status, limit)
    return DeliveryList(deliveries=[DeliveryPublic.model_validate(row._mapping) for row in rows])
