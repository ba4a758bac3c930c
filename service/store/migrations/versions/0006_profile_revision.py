"""A revision counter per owner, bumped by every write to the owner or their contacts.

It lets a service process cache an owner's profile features and know, with one
indexed read, whether the cache is still what the database says.

Revision ID: 0006_profile_revision
Revises: 0005_impression_counter
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_profile_revision"
down_revision: str | None = "0005_impression_counter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("owners", sa.Column("profile_revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("profile_revision")
