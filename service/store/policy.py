"""A tenant's re-ranking policy: the product defaults unless the tenant configured its own."""

from __future__ import annotations

from dataclasses import fields, replace

from sqlalchemy import Connection, select, update

from introrank.model.rerank import RerankPolicy
from introrank.service.store.tables import Tenant

POLICY_FIELDS = tuple(f.name for f in fields(RerankPolicy))


def load_policy(conn: Connection, tenant_id: int) -> RerankPolicy:
    row = conn.execute(select(*(getattr(Tenant, f) for f in POLICY_FIELDS)).where(Tenant.id == tenant_id)).first()
    if row is None:
        return RerankPolicy()
    configured = {f: v for f, v in zip(POLICY_FIELDS, row, strict=True) if v is not None}
    return replace(RerankPolicy(), **configured)


def save_policy(conn: Connection, tenant_id: int, values: dict[str, float | int | None]) -> RerankPolicy:
    """Set (or with None, reset to the default) the given policy fields; none given changes nothing."""
    if values:
        conn.execute(update(Tenant).where(Tenant.id == tenant_id).values(**values))
    return load_policy(conn, tenant_id)
