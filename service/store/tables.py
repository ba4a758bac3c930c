"""The relational schema as typed SQLAlchemy 2 ORM classes.

These classes are the reference for queries and for Alembic autogenerate; the
migrations in ``service/migrations/versions`` are the frozen history that actually
builds the database, so a change here needs a new migration file too.

IDs are the caller's external strings, always scoped by ``tenant_id``; every
primary and foreign key therefore starts with the tenant, which makes tenant
isolation a property of the keys rather than of each query's WHERE clause.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from introrank.model.aggregates import SCALAR_FIELDS

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no timestamp type and hands back naive values; this type converts to
    UTC on the way in and attaches UTC on the way out, so callers always see aware
    datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_incarnation() -> str:
    """A fresh owner incarnation id: 32 random hex digits, never reused (see ``Owner.incarnation``)."""
    return uuid.uuid4().hex


# Named constraints: predictable names in every backend, and SQLite batch
# migrations can only drop a constraint that has a name.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "ix": "ix_%(column_0_label)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), list[str]: JSON()}
    if TYPE_CHECKING:  # every class here maps one Table, which has insert/update/delete (FromClause has not)
        __table__: ClassVar[Table]


class Tenant(Base):
    """A CRM installation; owns API keys and all data below."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Re-ranking policy of this tenant; NULL means the product default (introrank.model.rerank.RerankPolicy).
    impression_decay: Mapped[float | None] = mapped_column(Double)
    max_per_company: Mapped[int | None] = mapped_column(Integer)
    ask_cooldown_days: Mapped[float | None] = mapped_column(Double)


class ApiKey(Base):
    """An API key, stored only as its SHA-256 hex digest plus a display prefix.

    ``scopes`` is a comma-separated subset of read, write, admin. A revoked key
    keeps its row (so ``keys list`` shows it) and is refused from then on.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(32), default="read,write", server_default="read,write")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class Job(Base):
    """A retrain job: queued by the API, run by ``introrank worker``, its result kept for polling.

    ``heartbeat_at`` is refreshed by the running worker; a running job whose
    heartbeat is older than ``INTRORANK_JOB_STALE_SECONDS`` lost its worker and is
    marked failed. At most one job of a tenant runs at a time.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),
                      Index("ix_jobs_tenant_state", "tenant_id", "state"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # queued | running | succeeded | failed
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(200))


class Owner(Base):
    """The person whose contacts are ranked."""

    __tablename__ = "owners"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    owner_id: Mapped[str] = mapped_column(String(), primary_key=True)
    # Set when the row is inserted (a re-created owner gets a new one) and never updated: the
    # revisions below restart at 0 with a re-created owner, so every cache checks this beside them.
    incarnation: Mapped[str] = mapped_column(String(32), default=new_incarnation)
    career_stage: Mapped[int | None] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String())
    goal: Mapped[str] = mapped_column(String())
    # The owner's job title: their career stage is read from it when career_stage is empty.
    title: Mapped[str | None] = mapped_column(String())
    target_industries: Mapped[list[str]] = mapped_column(default=list)
    target_companies: Mapped[list[str]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    # Bumped by every write to the owner or their contacts (profile caches compare it).
    profile_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every write to the owner's aggregates (score caches compare it).
    state_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The state_revision of the last rewrite of all the owner's aggregates (the one write that may drop
    # rows): a process holding the owner's states from before it reloads them whole.
    states_reset_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every change to the owner's unanswered-impression counters (served lists, feedback).
    impression_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Contact(Base):
    """One of an owner's contacts. ``name`` is PII: never log it."""

    __tablename__ = "contacts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "owner_id"],
            ["owners.tenant_id", "owners.owner_id"],
            ondelete="CASCADE",
        ),
    )

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(), primary_key=True)
    name: Mapped[str | None] = mapped_column(String())
    company: Mapped[str | None] = mapped_column(String())
    industry: Mapped[str | None] = mapped_column(String())
    title: Mapped[str | None] = mapped_column(String())
    career_stage: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(default=list)
    mutual_connections: Mapped[int | None] = mapped_column(Integer)
    do_not_recommend: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Event(Base):
    """One interaction between an owner and a contact.

    ``occurred_at`` is a DOUBLE holding UTC epoch seconds: it compares and
    subtracts fast in SQL and in numpy, sorts correctly on every backend and has
    no timezone ambiguity (SQLite has no timestamp type at all). Convert at the
    edges with ``datetime.fromtimestamp(x, UTC)`` / ``dt.timestamp()``.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        Index(
            "ix_events_tenant_owner_contact_time",
            "tenant_id",
            "owner_id",
            "contact_id",
            "occurred_at",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "owner_id", "contact_id"],
            ["contacts.tenant_id", "contacts.owner_id", "contacts.contact_id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String())
    owner_id: Mapped[str] = mapped_column(String())
    contact_id: Mapped[str] = mapped_column(String())
    occurred_at: Mapped[float] = mapped_column(Double)
    type: Mapped[str] = mapped_column(String())
    direction: Mapped[str] = mapped_column(String(8))
    useful: Mapped[bool | None] = mapped_column(Boolean)
    # When the service stored it (epoch seconds; NULL for rows stored before 0008): a recorded event
    # answers the pair's impressions, and ``as_of`` replays that by this time, not by ``occurred_at``.
    received_at: Mapped[float | None] = mapped_column(Double)


# --- the online side: per-pair feature aggregates, the served-list log, feedback ---
# Each row hangs off its contact with ON DELETE CASCADE, so erasing a contact or
# an owner erases every aggregate, impression and outcome of them.

def _contact_fk(table: str) -> ForeignKeyConstraint:
    """Named explicitly: the naming convention's name would pass PostgreSQL's 63-char limit."""
    return ForeignKeyConstraint(
        ["tenant_id", "owner_id", "contact_id"],
        ["contacts.tenant_id", "contacts.owner_id", "contacts.contact_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_contact",
    )


class PairAggregate(Base):
    """The state of one (owner, contact) tie: ``introrank.model.aggregates`` scalars plus recent events.

    Updated in the same transaction as the events it summarises; the recommend
    path reads only these rows, never the event history.
    """

    __tablename__ = "pair_aggregates"
    __table_args__ = (_contact_fk("pair_aggregates"),
                      Index("ix_pair_aggregates_shown", "tenant_id", "owner_id", "contact_id",
                            "unanswered_impressions", sqlite_where=text("unanswered_impressions > 0"),
                            postgresql_where=text("unanswered_impressions > 0")),
                      Index("ix_pair_aggregates_revision", "tenant_id", "owner_id", "state_revision"))

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(), primary_key=True)
    recent: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Times served since anything last happened with this contact (bounded work for discounting).
    unanswered_impressions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The owner's state_revision of the write that last changed this row: what changed since R is > R.
    state_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


for _field in SCALAR_FIELDS:  # one DOUBLE column per scalar, named as in introrank.model.aggregates
    setattr(PairAggregate, _field, mapped_column(_field, Double, nullable=True))


class ServedRecommendation(Base):
    """One item of a served list: what feedback joins to and what impressions count."""

    __tablename__ = "served_recommendations"
    __table_args__ = (_contact_fk("served_recommendations"),
                      Index("ix_served_owner_contact", "tenant_id", "owner_id", "contact_id"),
                      Index("ix_served_owner_time", "tenant_id", "owner_id", "served_at"))

    recommendation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String())
    contact_id: Mapped[str] = mapped_column(String())
    rank: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Double)
    model_version: Mapped[str] = mapped_column(String())
    served_at: Mapped[float] = mapped_column(Double)


class Feedback(Base):
    """The outcome of a recommendation as the CRM reports it."""

    __tablename__ = "feedback"
    __table_args__ = (_contact_fk("feedback"),
                      Index("ix_feedback_owner_contact", "tenant_id", "owner_id", "contact_id"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String())
    contact_id: Mapped[str] = mapped_column(String())
    recommendation_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(32))
    useful: Mapped[bool | None] = mapped_column(Boolean)
    event_id: Mapped[str | None] = mapped_column(String())
    occurred_at: Mapped[float] = mapped_column(Double)
    received_at: Mapped[float | None] = mapped_column(Double)  # when stored: it answers the impressions then


# --- webhooks ---

class Webhook(Base):
    """A tenant's webhook (one per tenant).

    ``secret_ciphertext`` is the shared signing secret sealed with the installation's key
    (``introrank.service.store.secret_box``): never the secret itself.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret_ciphertext: Mapped[str] = mapped_column(String(1024))
    k: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class WebhookDelivery(Base):
    """One digest for one webhook: its status, attempts so far and the last outcome.

    Unique per (webhook, digest): the row is what makes "never send a delivered
    digest again" hold, and the claim (status ``sending``) keeps two concurrent
    pushes from sending the same digest twice. Rows go with their webhook, their
    owner (erasure) and their tenant.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "digest_id", name="uq_webhook_deliveries_digest"),
        ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], ondelete="CASCADE",
                             name="fk_webhook_deliveries_webhook"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                             name="fk_webhook_deliveries_tenant"),
        ForeignKeyConstraint(["tenant_id", "owner_id"], ["owners.tenant_id", "owners.owner_id"],
                             ondelete="CASCADE", name="fk_webhook_deliveries_owner"),
        Index("ix_webhook_deliveries_tenant_owner", "tenant_id", "owner_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(Integer)
    tenant_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String())
    digest_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String())
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column()


WEBHOOKS = cast(Table, Webhook.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
