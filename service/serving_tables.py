"""Tables the online side adds: per-pair feature aggregates, the served-list log, feedback.

Each row hangs off its contact with ON DELETE CASCADE, so erasing a contact or
an owner erases every aggregate, impression and outcome of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Double, ForeignKeyConstraint, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from model.aggregates import SCALAR_FIELDS
from service.tables import Base, BigIntId, utc_now


def _contact_fk(table: str) -> ForeignKeyConstraint:
    """Named explicitly: the naming convention's name would pass PostgreSQL's 63-char limit."""
    return ForeignKeyConstraint(
        ["tenant_id", "owner_id", "contact_id"],
        ["contacts.tenant_id", "contacts.owner_id", "contacts.contact_id"],
        ondelete="CASCADE",
        name=f"fk_{table}_contact",
    )


class PairAggregate(Base):
    """The state of one (owner, contact) tie: ``model.aggregates`` scalars plus recent events.

    Updated in the same transaction as the events it summarises; the recommend
    path reads only these rows, never the event history.
    """

    __tablename__ = "pair_aggregates"
    __table_args__ = (_contact_fk("pair_aggregates"),
                      Index("ix_pair_aggregates_shown", "tenant_id", "owner_id", "contact_id",
                            "unanswered_impressions", sqlite_where=text("unanswered_impressions > 0"),
                            postgresql_where=text("unanswered_impressions > 0")))

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(), primary_key=True)
    recent: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Times served since anything last happened with this contact (bounded work for discounting).
    unanswered_impressions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


for _field in SCALAR_FIELDS:  # one DOUBLE column per scalar, named as in model.aggregates
    setattr(PairAggregate, _field, mapped_column(_field, Double, nullable=True))


class ServedRecommendation(Base):
    """One item of a served list: what feedback joins to and what impressions count."""

    __tablename__ = "served_recommendations"
    __table_args__ = (_contact_fk("served_recommendations"),
                      Index("ix_served_owner_contact", "tenant_id", "owner_id", "contact_id"))

    recommendation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    list_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String())
    contact_id: Mapped[str] = mapped_column(String())
    rank: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Double)
    model_version: Mapped[str] = mapped_column(String())
    served_at: Mapped[float] = mapped_column(Double)


class Feedback(Base):
    """The outcome of a recommendation as the CRM reports it."""

    __tablename__ = "feedback"
    __table_args__ = (_contact_fk("feedback"),
                      Index("ix_feedback_owner_contact", "tenant_id", "owner_id", "contact_id"))

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String())
    contact_id: Mapped[str] = mapped_column(String())
    recommendation_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(32))
    useful: Mapped[bool | None] = mapped_column(Boolean)
    event_id: Mapped[str | None] = mapped_column(String())
    occurred_at: Mapped[float] = mapped_column(Double)
