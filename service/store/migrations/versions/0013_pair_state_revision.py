"""Which write last changed each pair state, so a process can re-read only what changed.

``pair_aggregates.state_revision`` is the owner's ``state_revision`` of the
transaction that last wrote the row (the fold, a recompute, an import), so a
process holding an owner's decoded states at revision R reads only the rows
above R (``ix_pair_aggregates_revision``). ``owners.states_reset_revision`` is
the revision of the owner's last wholesale rewrite (``refresh_owners`` deletes
and rewrites every row): a holder older than it reloads everything, since a
rewrite is the one aggregate write that may drop rows. Rows stored before this
migration read 0, which every holder's revision already covers.

Revision ID: 0013_pair_state_revision
Revises: 0012_owner_title
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_pair_state_revision"
down_revision: str | None = "0012_owner_title"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("pair_aggregates", sa.Column("state_revision", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("owners", sa.Column("states_reset_revision", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_pair_aggregates_revision", "pair_aggregates", ["tenant_id", "owner_id", "state_revision"])


def downgrade() -> None:
    op.drop_index("ix_pair_aggregates_revision", table_name="pair_aggregates")
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("states_reset_revision")
    with op.batch_alter_table("pair_aggregates") as batch:
        batch.drop_column("state_revision")
