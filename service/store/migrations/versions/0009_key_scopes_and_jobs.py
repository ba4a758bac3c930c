"""Key scopes, last use and revocation; the durable jobs table.

``api_keys.admin`` becomes ``scopes`` (read, write, admin; an admin key of
before gets all three, any other key read and write), keys gain
``last_used_at`` and ``revoked_at`` and a longer display prefix. ``jobs`` holds
retrain jobs so they outlive the process that queued them and the one that
runs them.

Revision ID: 0009_key_scopes_and_jobs
Revises: 0008_received_at
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_key_scopes_and_jobs"
down_revision: str | None = "0008_received_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scopes", sa.String(32), nullable=False, server_default="read,write"))
        batch.add_column(sa.Column("last_used_at", _ts, nullable=True))
        batch.add_column(sa.Column("revoked_at", _ts, nullable=True))
        batch.alter_column("prefix", type_=sa.String(16), existing_type=sa.String(8), existing_nullable=False)
    op.execute("UPDATE api_keys SET scopes = 'read,write,admin' WHERE admin")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("admin")
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE",
                                                          name="fk_jobs_tenant_id_tenants"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("started_at", _ts, nullable=True),
        sa.Column("heartbeat_at", _ts, nullable=True),
        sa.Column("finished_at", _ts, nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
    )
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_tenant_state", "jobs", ["tenant_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_tenant_state", table_name="jobs")
    op.drop_index("ix_jobs_state_created", table_name="jobs")
    op.drop_table("jobs")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE api_keys SET admin = (scopes LIKE '%admin%')")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scopes")
        batch.drop_column("last_used_at")
        batch.drop_column("revoked_at")
        batch.alter_column("prefix", type_=sa.String(8), existing_type=sa.String(16), existing_nullable=False)
