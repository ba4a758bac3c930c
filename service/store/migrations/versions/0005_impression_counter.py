"""A per-pair counter of unanswered impressions, so discounting never scans the served log.

Revision ID: 0005_impression_counter
Revises: 0004_tenant_policy
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_impression_counter"
down_revision: str | None = "0004_tenant_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pair_aggregates", sa.Column("unanswered_impressions", sa.Integer(), nullable=False,
                                               server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("pair_aggregates") as batch:
        batch.drop_column("unanswered_impressions")
