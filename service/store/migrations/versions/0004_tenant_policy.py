"""Per-tenant re-ranking policy: impression decay, company cap, ask cool-down.

Revision ID: 0004_tenant_policy
Revises: 0003_webhooks
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tenant_policy"
down_revision: str | None = "0003_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): recreating ``tenants`` on SQLite with foreign keys on
    # would cascade-delete every row that hangs off a tenant.
    op.add_column("tenants", sa.Column("impression_decay", sa.Double(), nullable=True))
    op.add_column("tenants", sa.Column("max_per_company", sa.Integer(), nullable=True))
    op.add_column("tenants", sa.Column("ask_cooldown_days", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("ask_cooldown_days")
        batch.drop_column("max_per_company")
        batch.drop_column("impression_decay")
