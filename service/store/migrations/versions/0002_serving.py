"""Serving side: per-pair feature aggregates, served-recommendation log, feedback.

Revision ID: 0002_serving
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_serving"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Frozen copy of introrank.model.aggregates.SCALAR_FIELDS at this revision.
_SCALARS = ("first_ts", "last_ts", "last_in_ts", "last_meeting_ts", "last_ask_ts", "n_total", "n_in",
            "n_out", "n_give", "n_ask", "n_success", "warm_7", "warm_30", "warm_180")


def _contact_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "owner_id", "contact_id"],
        ["contacts.tenant_id", "contacts.owner_id", "contacts.contact_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_contact",
    )


def _pair_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.String(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pair_aggregates",
        *_pair_columns(),
        sa.Column("recent", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *[sa.Column(name, sa.Double(), nullable=True) for name in _SCALARS],
        sa.PrimaryKeyConstraint("tenant_id", "owner_id", "contact_id", name="pk_pair_aggregates"),
        _contact_fk("pair_aggregates"),
    )
    op.create_table(
        "served_recommendations",
        sa.Column("recommendation_id", sa.String(36), nullable=False),
        sa.Column("list_id", sa.String(36), nullable=False),
        *_pair_columns(),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Double(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("served_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("recommendation_id", name="pk_served_recommendations"),
        _contact_fk("served_recommendations"),
    )
    op.create_index("ix_served_recommendations_list_id", "served_recommendations", ["list_id"])
    op.create_index("ix_served_owner_contact", "served_recommendations",
                    ["tenant_id", "owner_id", "contact_id"])
    op.create_table(
        "feedback",
        sa.Column("id", _id, autoincrement=True, nullable=False),
        *_pair_columns(),
        sa.Column("recommendation_id", sa.String(36), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("useful", sa.Boolean(), nullable=True),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("occurred_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        _contact_fk("feedback"),
    )
    op.create_index("ix_feedback_owner_contact", "feedback", ["tenant_id", "owner_id", "contact_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("served_recommendations")
    op.drop_table("pair_aggregates")
