"""Unanswered impressions: how often a contact was served since anything last happened with them.

One definition, kept two ways. "Served" is a logged list item (an API list or a
delivered webhook push); "something happened" is the service storing an event of
the pair or feedback on it, at the time it stored it (a late event answers every
impression before its arrival, not only those before its ``occurred_at``).

- Live: a counter per pair on ``pair_aggregates`` (bounded work per request),
  raised by ``count_impression`` and reset when the pair's events are folded
  (``introrank.service.store.aggregates``), when feedback arrives
  (``answer_impressions``) and when an import stores events for it
  (``answer_received``).
- ``as_of``: ``impressions_as_of`` replays the same rule from the served log and
  the ``received_at`` of events and feedback, so a backtest at a live list's
  time sees the counters that list was ranked with.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from sqlalchemy import Connection, Table, and_, exists, func, select

from introrank.service.store.concurrency import lock_owners
from introrank.service.store.engine import raw_cursor
from introrank.service.store.tables import Event, Feedback, PairAggregate, ServedRecommendation

_TABLE = cast(Table, PairAggregate.__table__)


def count_impression(conn: Connection, tenant_id: int, owner_id: str, contact_ids: list[str],
                     unanswered_since: float | None = None) -> int | None:
    """One more unanswered impression for each served contact.

    ``unanswered_since``: the list was served at that time and is counted only now
    (a queued log): contacts with an event or feedback stored since are left alone,
    since that answered the impression already (the rule ``impressions_as_of`` replays).
    Returns the owner's new ``impression_revision`` (None when nothing was served).
    """
    if not contact_ids:
        return None
    lock_owners(conn, tenant_id, [owner_id])
    where = [_TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id == owner_id, _TABLE.c.contact_id.in_(contact_ids)]
    if unanswered_since is not None:
        for table in (cast(Table, Event.__table__), cast(Table, Feedback.__table__)):
            where.append(~exists().where(
                table.c.tenant_id == _TABLE.c.tenant_id, table.c.owner_id == _TABLE.c.owner_id,
                table.c.contact_id == _TABLE.c.contact_id, table.c.received_at >= unanswered_since))
    conn.execute(_TABLE.update().where(*where).values(unanswered_impressions=_TABLE.c.unanswered_impressions + 1))
    return bump_impression_revision(conn, tenant_id, owner_id)


def bump_impression_revision(conn: Connection, tenant_id: int, owner_id: str) -> int | None:
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"UPDATE owners SET impression_revision = impression_revision + 1 WHERE tenant_id = {mark} "
                       f"AND owner_id = {mark} RETURNING impression_revision", [tenant_id, owner_id])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def load_impressions(conn: Connection, tenant_id: int, owner_id: str) -> dict[str, int]:
    """The owner's nonzero unanswered-impression counters (a partial index holds just these)."""
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"SELECT contact_id, unanswered_impressions FROM pair_aggregates WHERE tenant_id = {mark} "
                       f"AND owner_id = {mark} AND unanswered_impressions > 0", [tenant_id, owner_id])
        return dict(cursor.fetchall())


def answer_impressions(conn: Connection, tenant_id: int, owner_id: str, contact_id: str) -> None:
    """Feedback on a contact counts as something happening: its impressions are answered."""
    lock_owners(conn, tenant_id, [owner_id])
    conn.execute(_TABLE.update().where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id == owner_id,
                                       _TABLE.c.contact_id == contact_id).values(unanswered_impressions=0))
    bump_impression_revision(conn, tenant_id, owner_id)


def answer_received(conn: Connection, tenant_id: int, owner_ids: list[str], received_at: float) -> None:
    """A bulk import stored events at ``received_at``: those pairs' impressions are answered.

    Only nonzero counters are visited (the partial index), each checked against its own events.
    """
    events = cast(Table, Event.__table__)
    received = exists().where(events.c.tenant_id == _TABLE.c.tenant_id, events.c.owner_id == _TABLE.c.owner_id,
                              events.c.contact_id == _TABLE.c.contact_id, events.c.received_at >= received_at)
    for owner_id in owner_ids:
        answered = conn.execute(_TABLE.update().where(
            _TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id == owner_id, _TABLE.c.unanswered_impressions > 0,
            received).values(unanswered_impressions=0))
        if answered.rowcount:
            bump_impression_revision(conn, tenant_id, owner_id)


def impressions_as_of(conn: Connection, tenant_id: int, owner_id: str, at: float) -> dict[str, int]:
    """The owner's nonzero counters as they stood at ``at`` (same shape as ``load_impressions``).

    Rows stored before ``received_at`` existed replay by their ``occurred_at``.
    """
    served_log = ServedRecommendation
    served = conn.execute(select(served_log.contact_id, served_log.served_at).where(
        served_log.tenant_id == tenant_id, served_log.owner_id == owner_id, served_log.served_at < at)).all()
    if not served:
        return {}
    answered: dict[str, float] = {}
    shown = select(served_log.contact_id).where(  # only served contacts matter: skip the others' events
        served_log.tenant_id == tenant_id, served_log.owner_id == owner_id, served_log.served_at < at).distinct()
    for table in (Event, Feedback):
        stored = func.coalesce(table.received_at, table.occurred_at)
        query = select(table.contact_id, func.max(stored)).where(
            and_(table.tenant_id == tenant_id, table.owner_id == owner_id, stored < at,
                 table.contact_id.in_(shown))).group_by(table.contact_id)
        for contact_id, when in conn.execute(query):
            answered[contact_id] = max(answered.get(contact_id, -np.inf), float(when))
    # Plain tuples: a DataFrame built from SQLAlchemy rows probes each row's attributes (~10x slower).
    counts: dict[str, int] = {}
    for contact_id, served_at in served:
        if float(served_at) > answered.get(contact_id, -np.inf):
            counts[str(contact_id)] = counts.get(str(contact_id), 0) + 1
    return counts
