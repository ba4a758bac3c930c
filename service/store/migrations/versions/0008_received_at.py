"""When each event and feedback row was stored.

Storing an event for a pair, or feedback on it, answers the pair's unanswered
impressions (the live counter resets in that transaction). ``received_at`` keeps
that moment, so an ``as_of`` answer replays the counter exactly, late events
included. Rows stored before this migration keep NULL and replay by
``occurred_at``.

Revision ID: 0008_received_at
Revises: 0007_state_revision
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_received_at"
down_revision: str | None = "0007_state_revision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("received_at", sa.Double(), nullable=True))
    op.add_column("feedback", sa.Column("received_at", sa.Double(), nullable=True))


def downgrade() -> None:
    for table in ("events", "feedback"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("received_at")
