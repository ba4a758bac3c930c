"""Owners and contacts: insert new rows, update changed ones, leave the rest unwritten."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from introrank.model.constants import (
    COMPANY,
    CONTACT_ID,
    DO_NOT_RECOMMEND,
    INDUSTRY,
    MUTUAL_CONNECTIONS,
    NAME,
    OWNER_ID,
    TAGS,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
)
from introrank.service.store.csv_import.report import FileReport
from introrank.service.store.tables import Base, Contact, Owner, utc_now

IN_CHUNK = 500  # keys per IN (...) lookup
OWNERS, CONTACTS = (Base.metadata.tables[t.__tablename__] for t in (Owner, Contact))


def write_owners(conn: Connection, tenant_id: int, rows: pd.DataFrame, path: Path) -> FileReport:
    defaults: dict[str, Callable[[], object]] = {TARGET_INDUSTRIES: list, TARGET_COMPANIES: list, TITLE: _none}
    return _upsert(conn, OWNERS, tenant_id, rows, Path(path), [OWNER_ID], defaults, stamp="updated_at")


def write_contacts(conn: Connection, tenant_id: int, rows: pd.DataFrame, path: Path) -> FileReport:
    defaults: dict[str, Callable[[], object]] = {
        COMPANY: _none,
        INDUSTRY: _none,
        TITLE: _none,
        NAME: _none,
        TAGS: list,
        MUTUAL_CONNECTIONS: _none,
        DO_NOT_RECOMMEND: bool,
    }
    return _upsert(conn, CONTACTS, tenant_id, rows, Path(path), [OWNER_ID, CONTACT_ID], defaults)


def _none() -> None:
    return None


def _upsert(
    conn: Connection,
    table: Table,
    tenant_id: int,
    rows: pd.DataFrame,
    path: Path,
    keys: list[str],
    defaults: dict[str, Callable[[], object]],
    stamp: str | None = None,
) -> FileReport:
    """Insert new rows and update changed ones; columns absent from the file stay as stored.

    Stored rows are compared in Python first, so an unchanged row is not written
    at all (re-importing changes nothing, not even ``updated_at``). ``defaults``
    fill the absent columns of new rows; ``stamp`` is set to now on written rows.
    """
    duplicate = rows.duplicated(keys, keep="first")
    report = FileReport(path.name, rows_read=len(rows), duplicates=int(duplicate.sum()))
    rows = rows[~duplicate]
    values = [c for c in rows.columns if c not in keys]
    stored = _stored_rows(conn, table, tenant_id, rows, keys, values)
    now, writes = utc_now(), []
    for record in rows.to_dict("records"):
        key = tuple(record[k] for k in keys)
        old = stored.get(key)
        if old is not None and old == tuple(record[c] for c in values):
            report.unchanged += 1
            continue
        if old is None:
            report.inserted += 1
        else:
            report.updated += 1
        for column, make in defaults.items():  # used by INSERT only: DO UPDATE sets `values`
            record.setdefault(column, make())
        record["tenant_id"] = tenant_id
        if stamp:
            record[stamp] = now
        writes.append(record)
    if writes:
        update = [*values, *([stamp] if stamp else [])]
        conn.execute(_upsert_statement(conn, table, keys, update), writes)
    return report


def _upsert_statement(conn: Connection, table: Table, keys: list[str], update: list[str]):
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.tenant_id, *(table.c[k] for k in keys)],
        set_={c: statement.excluded[c] for c in update},
    )


def _stored_rows(
    conn: Connection,
    table: Table,
    tenant_id: int,
    rows: pd.DataFrame,
    keys: list[str],
    values: list[str],
) -> dict[tuple, tuple]:
    """The stored rows of the file's keys: key tuple -> tuple of ``values`` columns."""
    stored: dict[tuple, tuple] = {}
    for chunk in in_chunks(rows[keys[0]].unique().tolist()):
        query = select(*(table.c[c] for c in (*keys, *values))).where(
            table.c.tenant_id == tenant_id, table.c[keys[0]].in_(chunk)
        )
        for row in conn.execute(query):
            stored[tuple(row[: len(keys)])] = tuple(row[len(keys) :])
    return stored


def in_chunks(items: list) -> list[list]:
    return [items[i : i + IN_CHUNK] for i in range(0, len(items), IN_CHUNK)]
