"""API keys: random secrets shown once, stored as SHA-256 digests, scoped to a tenant."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, select

from introrank.service.errors import AuthError
from introrank.service.store.engine import get_or_create_tenant, write_connection
from introrank.service.store.tables import ApiKey, Tenant, utc_now

KEY_PREFIX = "ir_"
MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


@dataclass(frozen=True)
class Principal:
    tenant_id: int
    tenant: str
    admin: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(engine: Engine, tenant: str, admin: bool = False) -> str:
    """A new key for ``tenant`` (created if needed); only its hash is stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_connection(engine) as conn:
        tenant_id = get_or_create_tenant(conn, tenant)
        conn.execute(ApiKey.__table__.insert().values(
            tenant_id=tenant_id, key_hash=hash_key(key), prefix=key[:8], admin=admin, created_at=utc_now()))
    return key


def authenticate(engine: Engine, key: str | None) -> Principal:
    if not key:
        raise AuthError(MISSING_KEY)
    query = (select(ApiKey.tenant_id, ApiKey.admin, Tenant.name)
             .join(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.key_hash == hash_key(key)))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise AuthError("invalid API key")
    return Principal(row.tenant_id, row.name, bool(row.admin))
