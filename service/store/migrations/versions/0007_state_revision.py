"""State and impression revisions per owner, and an index of the contacts with unanswered impressions.

``owners.state_revision`` is bumped in the same transaction as every write to the
owner's aggregates (events, imports, judged intros), so a service process can
reuse an owner's scored candidates and know, from the owner row it reads
anyway, whether the database still agrees. ``impression_revision`` does the same
for the unanswered-impression counters (bumped with every served list and
feedback), so a cached list re-reads them only when they changed. The partial
index lets that read touch only the nonzero counters.

Revision ID: 0007_state_revision
Revises: 0006_profile_revision
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_state_revision"
down_revision: str | None = "0006_profile_revision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHOWN = sa.text("unanswered_impressions > 0")


def upgrade() -> None:
    op.add_column("owners", sa.Column("state_revision", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("owners", sa.Column("impression_revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_pair_aggregates_shown", "pair_aggregates",
                    ["tenant_id", "owner_id", "contact_id", "unanswered_impressions"],
                    sqlite_where=_SHOWN, postgresql_where=_SHOWN)


def downgrade() -> None:
    op.drop_index("ix_pair_aggregates_shown", table_name="pair_aggregates")
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("state_revision")
        batch.drop_column("impression_revision")
