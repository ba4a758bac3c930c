"""API keys: random secrets shown once, stored as SHA-256 digests, scoped to a tenant and to scopes.

Scopes: ``read`` (recommendations, keep-warm, score, the model), ``write``
(owners, contacts, events, feedback, erasure) and ``admin`` (policy, webhooks,
retraining and reload of the tenant's own model). Every request looks its key
up in the store, so a revoked key is refused at once by every replica.

A key's ``last_used_at`` is a write on every path, reads included, so it is
stamped at most once per ``LAST_USED_RESOLUTION`` per key and process, without
waiting for the lock: while an import holds it, the stamp is skipped, not waited for.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from introrank.model.constants import BASE_MODEL
from introrank.service.errors import AuthError
from introrank.service.store.engine import find_tenant, get_or_create_tenant, write_connection
from introrank.service.store.tables import ApiKey, Tenant, utc_now

KEY_PREFIX = "ir_"
MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
PREFIX_LENGTH = 12  # what ``keys list`` shows and ``keys revoke`` takes
READ, WRITE, ADMIN = "read", "write", "admin"
SCOPES = (READ, WRITE, ADMIN)
DEFAULT_SCOPES = (READ, WRITE)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # ``last_used_at`` is written at most this often per key
# engine -> key id -> when this process last tried to stamp it. Keyed by the engine, not its URL:
# two stores behind one URL (PostgreSQL schemas) have their own key ids 1, 2, ...
_touch_tried: weakref.WeakKeyDictionary[Engine, dict[int, float]] = weakref.WeakKeyDictionary()
_touch_lock = threading.Lock()


class UnknownTenantError(LookupError):
    def __init__(self, tenant: str) -> None:
        super().__init__(f"unknown tenant {tenant!r}; pass --create-tenant to create it")


@dataclass(frozen=True)
class Principal:
    tenant_id: int
    tenant: str
    scopes: frozenset[str]

    @property
    def admin(self) -> bool:
        return ADMIN in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def normalize_scopes(scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return tuple(s for s in SCOPES if s in scopes)


def create_api_key(engine: Engine, tenant: str, admin: bool = False, scopes: tuple[str, ...] | None = None,
                   create_tenant: bool = True) -> str:
    """A new key for ``tenant``; only its hash is stored. ``admin`` adds the admin scope.

    With ``create_tenant=False`` (what ``introrank keys create`` does without
    ``--create-tenant``) an unknown tenant is an error rather than a typo that
    silently makes a new, empty tenant.
    """
    if tenant == BASE_MODEL:
        raise ValueError(f"{BASE_MODEL!r} names the base model and cannot be a tenant")
    chosen = normalize_scopes(tuple(scopes or DEFAULT_SCOPES) + ((ADMIN,) if admin else ()))
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_connection(engine) as conn:
        if create_tenant:
            tenant_id = get_or_create_tenant(conn, tenant)
        else:
            found = find_tenant(conn, tenant)
            if found is None:
                raise UnknownTenantError(tenant)
            tenant_id = found
        conn.execute(ApiKey.__table__.insert().values(
            tenant_id=tenant_id, key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH], scopes=",".join(chosen),
            created_at=utc_now()))
    return key


def authenticate(engine: Engine, key: str | None) -> Principal:
    if not key:
        raise AuthError(MISSING_KEY)
    query = (select(ApiKey.id, ApiKey.tenant_id, ApiKey.scopes, ApiKey.revoked_at, ApiKey.last_used_at, Tenant.name)
             .join(Tenant, Tenant.id == ApiKey.tenant_id).where(ApiKey.key_hash == hash_key(key)))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid API key")
    now = utc_now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        _touch(engine, row.id, now)
    return Principal(row.tenant_id, row.name, frozenset(row.scopes.split(",")))


def _touch(engine: Engine, key_id: int, now: datetime) -> None:
    """Best effort: a busy store must not turn a valid request into an error, nor keep it waiting.

    Tried once per resolution per key in this process, stamped or not (a busy
    store does not make every request of the minute try again).
    """
    tried = time.monotonic()
    with _touch_lock:
        per_key = _touch_tried.setdefault(engine, {})
        if tried - per_key.get(key_id, -math.inf) < LAST_USED_RESOLUTION.total_seconds():
            return
        per_key[key_id] = tried
    try:
        with write_connection(engine, lock_wait=0) as conn:
            conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
    except Exception:  # noqa: BLE001 - last use is informative only
        pass


def list_keys(engine: Engine, tenant: str) -> list[KeyInfo]:
    query = (select(ApiKey.prefix, ApiKey.scopes, ApiKey.created_at, ApiKey.last_used_at, ApiKey.revoked_at)
             .join(Tenant, Tenant.id == ApiKey.tenant_id).where(Tenant.name == tenant).order_by(ApiKey.created_at))
    with engine.connect() as conn:
        return [KeyInfo(r.prefix, tuple(r.scopes.split(",")), r.created_at, r.last_used_at, r.revoked_at)
                for r in conn.execute(query)]


def revoke_key(engine: Engine, tenant: str, prefix: str) -> KeyInfo:
    """Revoke the one key of ``tenant`` whose displayed prefix is ``prefix``."""
    with write_connection(engine) as conn:
        rows = conn.execute(select(ApiKey.id, ApiKey.revoked_at).join(Tenant, Tenant.id == ApiKey.tenant_id)
                            .where(Tenant.name == tenant, ApiKey.prefix == prefix)).all()
        if len(rows) != 1:
            raise LookupError(f"tenant {tenant!r} has {len(rows)} keys with prefix {prefix!r}; "
                              f"`introrank keys list --tenant {tenant}` shows them")
        if rows[0].revoked_at is None:
            conn.execute(update(ApiKey).where(ApiKey.id == rows[0].id).values(revoked_at=utc_now()))
    return next(k for k in list_keys(engine, tenant) if k.prefix == prefix)
