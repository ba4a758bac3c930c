"""An incarnation id per owner, so cache validity never repeats across an erasure.

The revision counters of an owner (``profile_revision``, ``state_revision``,
``impression_revision``) restart at 0 when an erased owner is created again, so
a process that cached the erased owner's profile or scored list would find the
same counters and trust it. ``owners.incarnation`` is a random id set when the
row is inserted and never updated: caches check it together with the
revisions. Existing owners each get a random one here.

Revision ID: 0010_owner_incarnation
Revises: 0009_key_scopes_and_jobs
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_owner_incarnation"
down_revision: str | None = "0009_key_scopes_and_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 32 random hex digits per row, computed by the database (one statement however many owners).
_RANDOM_HEX = {"sqlite": "lower(hex(randomblob(16)))",
               "postgresql": "md5(random()::text || clock_timestamp()::text || owner_id || tenant_id::text)"}


def upgrade() -> None:
    op.add_column("owners", sa.Column("incarnation", sa.String(32), nullable=True))
    op.execute(f"UPDATE owners SET incarnation = {_RANDOM_HEX[op.get_bind().dialect.name]}")
    with op.batch_alter_table("owners") as batch:
        batch.alter_column("incarnation", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("incarnation")
