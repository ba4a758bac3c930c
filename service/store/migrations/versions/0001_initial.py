"""Initial schema: tenants, api_keys, owners, contacts, events.

Written out by hand (not generated at run time from ``introrank.service.store.tables``) so the
history stays fixed when the ORM classes change later.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ts = sa.DateTime(timezone=True)
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "owners",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("career_stage", sa.Integer(), nullable=True),
        sa.Column("industry", sa.String(), nullable=True),
        sa.Column("goal", sa.String(), nullable=False),
        sa.Column("target_industries", sa.JSON(), nullable=False),
        sa.Column("target_companies", sa.JSON(), nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "owner_id", name="pk_owners"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_owners_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "contacts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("company", sa.String(), nullable=True),
        sa.Column("industry", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("career_stage", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("mutual_connections", sa.Integer(), nullable=True),
        sa.Column("do_not_recommend", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("tenant_id", "owner_id", "contact_id", name="pk_contacts"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "owner_id"],
            ["owners.tenant_id", "owners.owner_id"],
            name="fk_contacts_tenant_id_owner_id_owners",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
        sa.Column("occurred_at", sa.Double(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("useful", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("tenant_id", "event_id", name="uq_events_tenant_id_event_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "owner_id", "contact_id"],
            ["contacts.tenant_id", "contacts.owner_id", "contacts.contact_id"],
            name="fk_events_tenant_id_owner_id_contact_id_contacts",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_events_tenant_owner_contact_time",
        "events",
        ["tenant_id", "owner_id", "contact_id", "occurred_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_events_tenant_owner_contact_time", table_name="events")
    op.drop_table("events")
    op.drop_table("contacts")
    op.drop_table("owners")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
