"""The owner's job title, read for their career stage when the stage is empty.

Nullable with no default, so every owner stored before it keeps working (a NULL
title leaves the stage as stored) and owners.csv files without the column load.

Revision ID: 0012_owner_title
Revises: 0011_webhook_secret_encrypted
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_owner_title"
down_revision: str | None = "0011_webhook_secret_encrypted"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("owners", sa.Column("title", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("title")
