"""The tenant's webhook (register, read, remove) and the status of its deliveries.

Changing where a tenant's recommendations are sent needs an **admin** key of the
tenant (``PUT`` and ``DELETE``); any key of the tenant may read the webhook and its
deliveries. The secret is a shared signing secret: stored as given, never returned.
Another tenant's key sees 404 / an empty list, never this tenant's webhook.

The push process calls the registered URL from the server's network, and any
http(s) URL is accepted (including private addresses, which on-premise CRMs
need); a multi-tenant deployment should restrict the pusher's egress.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Row

from introrank.service.api.deps import AdminDep, EngineDep, PrincipalDep
from introrank.service.integrations import webhooks
from introrank.service.schemas import Deleted, DeliveryList, DeliveryPublic, WebhookPublic, WebhookUpsert
from introrank.service.store.concurrency import run_write

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _public(row: Row) -> WebhookPublic:
    return WebhookPublic(url=row.url, k=row.k, created_at=row.created_at, updated_at=row.updated_at)


@router.put("", response_model=WebhookPublic)
def put_webhook(body: WebhookUpsert, principal: AdminDep, engine: EngineDep) -> WebhookPublic:
    """Register (or replace) the tenant's webhook. Same URL: keeps the delivery history; new URL: starts afresh."""
    row = run_write(engine, lambda conn: webhooks.put_webhook(conn, principal.tenant_id, str(body.url), body.secret,
                                                              body.k))
    return _public(row)


@router.get("", response_model=WebhookPublic)
def get_webhook(principal: PrincipalDep, engine: EngineDep) -> WebhookPublic:
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
    principal: PrincipalDep,
    engine: EngineDep,
    owner_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Annotated[Literal["delivered", "failed", "sending"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    """The tenant's digests, newest first: status, attempts, last HTTP status and error."""
    with engine.connect() as conn:
        rows = webhooks.list_deliveries(conn, principal.tenant_id, owner_id, status, limit)
    return DeliveryList(deliveries=[DeliveryPublic.model_validate(row._mapping) for row in rows])
