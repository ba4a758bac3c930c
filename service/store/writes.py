"""Writes behind the data endpoints, each in one transaction.

Every function takes an open write connection and raises a domain error before
anything is committed, so an error leaves the store exactly as it was. Each one
that writes an owner's data locks that owner first
(``introrank.service.store.concurrency.lock_owners``), before any other row, so
it waits for the owner's other writers instead of deadlocking with them; the
routes run each in ``run_write``, which re-runs it whole on a deadlock.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from introrank.model.constants import CONTACT_ID, INTRO, OWNER_ID, REFERRAL
from introrank.service.errors import InvalidInputError, NotFoundError
from introrank.service.schemas import ContactItem, EventConflict, EventIn, FeedbackIn, OwnerUpsert
from introrank.service.store.aggregates import fold_events, refresh_owners
from introrank.service.store.concurrency import lock_owners
from introrank.service.store.engine import raw_cursor
from introrank.service.store.impressions import answer_impressions
from introrank.service.store.tables import Contact, Event, Feedback, Owner, ServedRecommendation, utc_now


def _insert(conn: Connection, table):  # noqa: ANN001, ANN202 - dialect-specific insert
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def require_owner(conn: Connection, tenant_id: int, owner_id: str) -> None:
    found = conn.execute(select(Owner.owner_id).where(Owner.tenant_id == tenant_id, Owner.owner_id == owner_id))
    if found.first() is None:
        raise NotFoundError("owner", owner_id)


def upsert_owner(conn: Connection, tenant_id: int, owner_id: str, body: OwnerUpsert) -> None:
    values = {"tenant_id": tenant_id, "owner_id": owner_id, "updated_at": utc_now(), **body.model_dump()}
    stmt = _insert(conn, Owner.__table__).values(values)
    update = {k: stmt.excluded[k] for k in values if k not in ("tenant_id", "owner_id")}
    update["profile_revision"] = Owner.__table__.c.profile_revision + 1
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "owner_id"], set_=update))


def bump_profile_revision(conn: Connection, tenant_id: int, owner_ids: list[str]) -> None:
    """Contacts changed: cached profile features of these owners are stale."""
    table = Owner.__table__
    for start in range(0, len(owner_ids), 500):
        conn.execute(table.update().where(table.c.tenant_id == tenant_id, table.c.owner_id.in_(
            owner_ids[start:start + 500])).values(profile_revision=table.c.profile_revision + 1))


def upsert_contacts(conn: Connection, tenant_id: int, owner_id: str, contacts: list[ContactItem]) -> int:
    lock_owners(conn, tenant_id, [owner_id])
    require_owner(conn, tenant_id, owner_id)
    seen: dict[str, dict] = {}
    for item in contacts:
        seen[item.contact_id] = {"tenant_id": tenant_id, "owner_id": owner_id, **item.model_dump()}
    if not seen:
        return 0
    stmt = _insert(conn, Contact.__table__)
    keys = ("tenant_id", "owner_id", "contact_id")
    update = {k: stmt.excluded[k] for k in next(iter(seen.values())) if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "owner_id", "contact_id"], set_=update),
                 list(seen.values()))
    bump_profile_revision(conn, tenant_id, [owner_id])
    return len(seen)


def _check_contacts_exist(conn: Connection, tenant_id: int, events: list[EventIn]) -> None:
    """Every event names a known contact of its owner (one raw indexed read per owner)."""
    wanted: dict[str, set[str]] = {}
    for e in events:
        wanted.setdefault(e.owner_id, set()).add(e.contact_id)
    found: set[tuple[str, str]] = set()
    with raw_cursor(conn) as (cursor, mark):
        for owner_id, contact_ids in wanted.items():
            ids = sorted(contact_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                cursor.execute(f"SELECT contact_id FROM contacts WHERE tenant_id = {mark} AND owner_id = {mark} "
                               f"AND contact_id IN ({', '.join([mark] * len(chunk))})", [tenant_id, owner_id, *chunk])
                found.update((owner_id, r[0]) for r in cursor.fetchall())
    for i, e in enumerate(events):
        if (e.owner_id, e.contact_id) not in found:
            raise InvalidInputError(i, "contact_id", f"unknown contact for owner (events[{i}]): upsert the "
                                    "owner and contact before sending its events", within="events")


def insert_events(conn: Connection, tenant_id: int,
                  events: list[EventIn]) -> tuple[int, int, list[EventConflict]]:
    """Insert new events (idempotent on event_id) and fold them into the aggregates.

    Returns (inserted, duplicates, conflicts). An event_id that is stored, or
    earlier in the batch, with another payload is a conflict, not a duplicate: it
    is not written (the first version stands) and the caller learns where. Rows
    go in sorted by event_id: two batches sharing ids wait on each other's
    inserts in one order, never in a cycle.
    """
    lock_owners(conn, tenant_id, [e.owner_id for e in events])
    _check_contacts_exist(conn, tenant_id, events)
    received_at = time.time()
    rows = [(tenant_id, e.event_id, e.owner_id, e.contact_id, e.occurred_at.timestamp(), e.type, e.direction,
             e.useful, received_at) for e in events]
    first: dict[str, tuple] = {}  # first occurrence of an id wins
    for row in rows:
        first.setdefault(row[1], row)
    inserted_ids, stored = _insert_new_events(conn, tenant_id, sorted(first.values(), key=lambda r: r[1]))
    fresh = [r for r in first.values() if r[1] in inserted_ids]
    if fresh:
        columns = dict(zip(_EVENT_ROW, zip(*fresh, strict=True), strict=True))
        # Plain object columns: pandas would otherwise convert every string column to Arrow
        # and the fold straight back to Python objects (~1 ms of a 1,000-event batch).
        fold_events(conn, tenant_id, pd.DataFrame({name: pd.Series(columns[name], dtype=float if
                                                                    name == "occurred_at" else object)
                                                   for name in _FOLDED}))
    conflicts = _conflicts(conn, tenant_id, rows, first, stored)
    return len(inserted_ids), len(events) - len(inserted_ids) - len(conflicts), conflicts


_EVENT_ROW = ("tenant_id", "event_id", "owner_id", "contact_id", "occurred_at", "type", "direction", "useful",
              "received_at")
_PAYLOAD = _EVENT_ROW[2:-1]  # what the CRM sent: received_at is the service's own
_FOLDED = (OWNER_ID, CONTACT_ID, "occurred_at", "type", "direction", "useful")


def _conflicts(conn: Connection, tenant_id: int, rows: list[tuple], first: dict[str, tuple],
               stored: dict[str, tuple]) -> list[EventConflict]:
    """Events that differ from the stored version of their id, or from its first occurrence in the batch.

    A ``useful`` that feedback has since judged is the store's to keep: a CRM
    re-sending its original flag for such an event is a duplicate, not a conflict.
    """
    found = []
    for i, row in enumerate(rows):
        if row[1] not in stored and first[row[1]] is row:  # a new id's first occurrence: nothing to differ from
            continue
        reference = stored[row[1]] if row[1] in stored else first[row[1]][2:-1]
        fields = [name for name, sent, kept in zip(_PAYLOAD, row[2:-1], reference, strict=True) if sent != kept]
        if fields:
            found.append(EventConflict(index=i, event_id=row[1], fields=fields))
    useful_only = {c.event_id for c in found if c.fields == ["useful"] and c.event_id in stored}
    if useful_only:
        judged = set(conn.execute(select(Feedback.event_id).where(
            Feedback.tenant_id == tenant_id, Feedback.useful.is_not(None),
            Feedback.event_id.in_(sorted(useful_only)))).scalars())
        found = [c for c in found if not (c.fields == ["useful"] and c.event_id in judged)]
    return found


def _insert_new_events(conn: Connection, tenant_id: int, rows: list[tuple]) -> tuple[set[str], dict[str, tuple]]:
    """Insert the rows whose event_id this tenant does not have yet.

    Returns the inserted ids and, for the ids already stored, their stored
    payload (``_PAYLOAD`` order). SQLite: the write lock is held since BEGIN
    IMMEDIATE, so "which ids exist" read first is still true at the insert, and a
    plain executemany on the raw cursor is several times cheaper than
    SQLAlchemy's RETURNING batches. PostgreSQL, where another transaction may
    insert the same id meanwhile, asks the insert itself (ON CONFLICT DO NOTHING
    RETURNING) and reads the stored versions of the rest afterwards.
    """
    if conn.dialect.name != "sqlite":
        stmt = _insert(conn, Event.__table__).on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
        stmt = stmt.returning(Event.__table__.c.event_id)
        inserted: set[str] = set()
        for start in range(0, len(rows), 2000):
            chunk = [dict(zip(_EVENT_ROW, r, strict=True)) for r in rows[start:start + 2000]]
            inserted.update(r[0] for r in conn.execute(stmt, chunk))
        with raw_cursor(conn) as (cursor, mark):
            stored = _stored_payloads(cursor, mark, tenant_id, [r[1] for r in rows if r[1] not in inserted])
        return inserted, stored
    with raw_cursor(conn) as (cursor, mark):
        stored = _stored_payloads(cursor, mark, tenant_id, [r[1] for r in rows])
        new = [r for r in rows if r[1] not in stored]
        marks = ", ".join([mark] * len(_EVENT_ROW))
        cursor.executemany(f"INSERT INTO events ({', '.join(_EVENT_ROW)}) VALUES ({marks})", new)
    return {r[1] for r in new}, stored


def _stored_payloads(cursor: Any, mark: str, tenant_id: int, ids: list[str]) -> dict[str, tuple]:
    stored: dict[str, tuple] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        cursor.execute(f"SELECT event_id, {', '.join(_PAYLOAD)} FROM events WHERE tenant_id = {mark} AND event_id "
                       f"IN ({', '.join([mark] * len(chunk))})", [tenant_id, *chunk])
        stored.update((r[0], tuple(r[1:])) for r in cursor.fetchall())
    return stored


def add_feedback(conn: Connection, tenant_id: int, body: FeedbackIn) -> int:
    """Record an outcome; outcomes that change what happened change the events too.

    ``not_useful`` / ``useful`` on an intro or referral event flips its ``useful``
    flag (so retraining turns it into a negative, or keeps it positive); an
    ``intro_made`` without an event creates the intro event. Aggregates follow
    in the same transaction, so serving and training keep seeing the same facts.
    """
    lock_owners(conn, tenant_id, [body.owner_id])
    contact = conn.execute(select(Contact.contact_id).where(
        Contact.tenant_id == tenant_id, Contact.owner_id == body.owner_id, Contact.contact_id == body.contact_id))
    if contact.first() is None:
        raise NotFoundError("contact", body.contact_id)
    if body.recommendation_id is not None:
        served = conn.execute(select(ServedRecommendation.contact_id).where(
            ServedRecommendation.tenant_id == tenant_id, ServedRecommendation.owner_id == body.owner_id,
            ServedRecommendation.recommendation_id == body.recommendation_id)).first()
        if served is None or served.contact_id != body.contact_id:
            raise InvalidInputError(None, "recommendation_id",
                                    "unknown recommendation_id for this owner and contact")
    useful = {"useful": True, "intro_made": True, "not_useful": False}.get(body.outcome)
    when = body.occurred_at.timestamp() if body.occurred_at else time.time()
    event_id = body.event_id
    if event_id is not None and useful is not None:
        _judge_event(conn, tenant_id, body, useful)
    elif body.outcome == "intro_made":
        event_id = f"feedback:{body.recommendation_id or uuid.uuid4()}"
        insert_events(conn, tenant_id, [EventIn(
            event_id=event_id, owner_id=body.owner_id, contact_id=body.contact_id,
            occurred_at=datetime.fromtimestamp(when, UTC), type="intro", direction="in", useful=True)])
    answer_impressions(conn, tenant_id, body.owner_id, body.contact_id)
    result = conn.execute(Feedback.__table__.insert().values(
        tenant_id=tenant_id, owner_id=body.owner_id, contact_id=body.contact_id,
        recommendation_id=body.recommendation_id, outcome=body.outcome, useful=useful,
        event_id=event_id, occurred_at=when, received_at=time.time()).returning(Feedback.__table__.c.id))
    return int(result.scalar_one())


def _judge_event(conn: Connection, tenant_id: int, body: FeedbackIn, useful: bool) -> None:
    table = Event.__table__
    where = (table.c.tenant_id == tenant_id, table.c.event_id == body.event_id,
             table.c.owner_id == body.owner_id, table.c.contact_id == body.contact_id)
    found = conn.execute(select(table.c.type).where(*where)).first()
    if found is None:
        raise InvalidInputError(None, "event_id", "no such event for this owner and contact")
    if found.type not in (INTRO, REFERRAL):
        raise InvalidInputError(None, "event_id", f"only intro or referral events can be judged, not {found.type!r}")
    conn.execute(table.update().where(*where).values(useful=useful))
    refresh_owners(conn, tenant_id, [body.owner_id])


def delete_owner(conn: Connection, tenant_id: int, owner_id: str) -> None:
    """Erase an owner and, by cascade, every contact, event, aggregate and log row of theirs."""
    require_owner(conn, tenant_id, owner_id)
    conn.execute(delete(Owner.__table__).where(Owner.tenant_id == tenant_id, Owner.owner_id == owner_id))


def delete_contact(conn: Connection, tenant_id: int, owner_id: str, contact_id: str) -> None:
    lock_owners(conn, tenant_id, [owner_id])
    table = Contact.__table__
    result = conn.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.owner_id == owner_id,
                                              table.c.contact_id == contact_id))
    if result.rowcount == 0:
        raise NotFoundError("contact", contact_id)
    bump_profile_revision(conn, tenant_id, [owner_id])
