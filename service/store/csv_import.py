"""Load CRM export CSVs (owners, contacts, events) into the store, all or nothing.

Pipeline per file: ``read_*`` turns the file into a DataFrame of *our* column
names (strings, index = the line number in the file), ``validate_*`` checks and
converts it with vectorised pandas, and the writers upsert it. A column-mapping
step for foreign CRM exports slots in between reading and validating
(:func:`_apply_mapping`).

Guarantees, and why they matter to an operator:
- One transaction for the whole import (re-run whole on a deadlock): any bad row raises
  :class:`CsvImportError` (file, line, field, what to do) and the database is
  exactly as before, so a fixed file can simply be imported again.
- Idempotent: owners and contacts are upserted (only changed rows are written),
  events are inserted with ON CONFLICT DO NOTHING on ``(tenant_id, event_id)``.
  Within one file the first row of a repeated key wins; the rest are counted as
  duplicates.
- Empty attribute cells mean "unknown" (NULL / empty list). A whole optional
  column that is absent leaves stored values alone (a re-export without
  ``do_not_recommend`` must not clear the flag).
- Fast: events go in with ``executemany`` on SQLite and COPY on PostgreSQL.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from introrank.model.constants import (
    CAREER_STAGE,
    COMPANY,
    CONTACT_ID,
    CONTACT_OPTIONAL_COLUMNS,
    CONTACT_REQUIRED_COLUMNS,
    DIRECTION,
    DIRECTIONS,
    DO_NOT_RECOMMEND,
    EVENT_ID,
    EVENT_OPTIONAL_COLUMNS,
    EVENT_REQUIRED_COLUMNS,
    EVENT_TYPES,
    GOAL,
    GOALS,
    INDUSTRY,
    LIST_SEPARATOR,
    MAX_STAGE,
    MIN_STAGE,
    MUTUAL_CONNECTIONS,
    NAME,
    OCCURRED_AT,
    OWNER_ID,
    OWNER_OPTIONAL_COLUMNS,
    OWNER_REQUIRED_COLUMNS,
    TAGS,
    TARGET_COMPANIES,
    TARGET_INDUSTRIES,
    TITLE,
    TYPE,
    USEFUL,
)
from introrank.service.store.aggregates import refresh_owners
from introrank.service.store.concurrency import lock_owners, run_write
from introrank.service.store.engine import get_or_create_tenant
from introrank.service.store.impressions import answer_received
from introrank.service.store.tables import Base, Contact, Event, Owner, utc_now
from introrank.service.store.writes import bump_profile_revision

if TYPE_CHECKING:
    from introrank.service.store.mappings import Mapping

EVENT_COLUMNS = (*EVENT_REQUIRED_COLUMNS, *EVENT_OPTIONAL_COLUMNS)
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_AWARE = r"\d(?:[zZ]|[+-]\d\d:?\d\d)$"  # a UTC offset right after the time
_INTEGER = r"[+-]?\d+(?:\.0*)?"  # "3" and "3.0" (spreadsheets) are integers
_IN_CHUNK = 500  # keys per IN (...) lookup
_EPOCH = pd.Timestamp(0, tz="UTC")
_REBUILD_INDEX_ROWS = 50_000  # SQLite: rebuild the time index for batches this large
_OWNERS, _CONTACTS, _EVENTS = (Base.metadata.tables[t.__tablename__] for t in (Owner, Contact, Event))
_EVENT_TIME_INDEX = next(i for i in _EVENTS.indexes if "occurred_at" in i.columns)
_COPY_CHUNK = 1 << 22


class CsvImportError(ValueError):
    """A bad input row: which file, which line (header = 1), which field, and why."""

    def __init__(self, path: Path | str, line: int, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = Path(path), line, field, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path.name} line {self.line}" if self.line else self.path.name
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


@dataclass
class FileReport:
    """What happened to one file's rows (no row content, so safe to log)."""

    file: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0


@dataclass
class ImportReport:
    tenant: str
    owners: FileReport | None = None
    contacts: FileReport | None = None
    events: FileReport | None = None
    seconds: float = field(default=0.0, compare=False)

    def files(self) -> list[FileReport]:
        return [r for r in (self.owners, self.contacts, self.events) if r is not None]

    def summary(self) -> str:
        """One line per file with counts only: never names or other row content."""
        lines = [f"imported into tenant '{self.tenant}' in {self.seconds:.2f} s"]
        for r in self.files():
            changed = "" if r is self.events else f", {r.updated} updated, {r.unchanged} unchanged"
            lines.append(
                f"  {r.file}: {r.rows_read} rows read, {r.inserted} inserted{changed}, {r.duplicates} duplicates"
            )
        return "\n".join(lines)


# --- public entry point -------------------------------------------------------


def import_csvs(
    engine: Engine,
    tenant: str,
    owners: Path | None = None,
    contacts: Path | None = None,
    events: Path | None = None,
    mapping: Path | str | None = None,
) -> ImportReport:
    """Validate every given file, then write them all in one transaction.

    ``mapping``: a shipped mapping name (``hubspot``) or a TOML path, for a foreign CRM's export.
    """
    started = time.perf_counter()
    spec = _load_mapping(mapping) if mapping is not None else None
    owner_rows = validate_owners(read_owners(owners, spec), owners) if owners else None
    contact_rows = validate_contacts(read_contacts(contacts, spec), contacts) if contacts else None
    event_rows = validate_events(read_events(events, spec), events) if events else None

    def write(conn: Connection) -> ImportReport:
        report = ImportReport(tenant=tenant)
        tenant_id = get_or_create_tenant(conn, tenant)
        frames = [f for f in (owner_rows, contact_rows, event_rows) if f is not None]
        # Every stored owner the files touch, locked first and in order: the import's upserts
        # then never wait on an events batch that waits on the import.
        lock_owners(conn, tenant_id, {o for f in frames for o in f[OWNER_ID].unique().tolist()})
        if owner_rows is not None and owners:
            report.owners = _write_owners(conn, tenant_id, owner_rows, owners)
            if report.owners.updated:
                bump_profile_revision(conn, tenant_id, sorted(owner_rows[OWNER_ID].unique()))
        if contact_rows is not None and contacts:
            _check_owners_known(conn, tenant_id, tenant, contact_rows, contacts)
            report.contacts = _write_contacts(conn, tenant_id, contact_rows, contacts)
            if report.contacts.inserted or report.contacts.updated:  # profile caches must notice
                bump_profile_revision(conn, tenant_id, sorted(contact_rows[OWNER_ID].unique()))
        if event_rows is not None and events:
            _check_contacts_known(conn, tenant_id, tenant, event_rows, events)
            received_at = time.time()
            report.events = _write_events(conn, tenant_id, event_rows, events, received_at)
            if report.events.inserted:  # a re-import inserts nothing and must change nothing
                touched = sorted(event_rows[OWNER_ID].unique())
                _after_events_inserted(conn, tenant_id, touched)
                answer_received(conn, tenant_id, touched, received_at)
        return report

    report = run_write(engine, write, bulk=True)
    report.seconds = time.perf_counter() - started
    return report


def _after_events_inserted(conn: Connection, tenant_id: int, owner_ids: list[str]) -> None:
    """Online feature aggregates are refreshed here.

    Called inside the import's transaction, after its events are inserted, with
    every owner that has events in the file; a failure here rolls the import back.
    The touched owners' aggregates are recomputed from all their events, which
    is exact whatever order the files arrive in.
    """
    refresh_owners(conn, tenant_id, owner_ids)


# --- reading: file -> DataFrame of our column names ---------------------------


def read_owners(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, OWNER_REQUIRED_COLUMNS, OWNER_OPTIONAL_COLUMNS, mapping, "owners")


def read_contacts(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, CONTACT_REQUIRED_COLUMNS, CONTACT_OPTIONAL_COLUMNS, mapping, "contacts")


def read_events(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, EVENT_REQUIRED_COLUMNS, EVENT_OPTIONAL_COLUMNS, mapping, "events")


def _read_table(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...], mapping: Mapping | None, kind: str
) -> pd.DataFrame:
    """Stripped string cells of the known columns; the index is the file line number."""
    frame = _apply_mapping(_read_raw(Path(path)), Path(path), mapping, kind)
    for column in required:
        if column not in frame.columns:
            raise CsvImportError(path, 1, column, "required column is missing from the header")
    present = [c for c in (*required, *optional) if c in frame.columns]
    return frame[present]


def _load_mapping(mapping: Path | str) -> Mapping:
    from introrank.service.store.mappings import (
        load_mapping,  # here: introrank.service.store.mappings imports this module
    )

    return load_mapping(mapping)


def _apply_mapping(frame: pd.DataFrame, path: Path, mapping: Mapping | None, kind: str) -> pd.DataFrame:
    """A foreign CRM's columns, values and times -> ours (service/mappings.py); identity without one."""
    if mapping is None:
        return frame
    from introrank.service.store.mappings import apply_mapping

    return apply_mapping(frame, mapping, kind, path)


def _read_raw(path: Path) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvImportError(path, 0, "", f"cannot read file ({exc.strerror})") from exc
    frame = _parse_fast(path, data)
    if frame is None:  # blank lines or quoted newlines: number lines the slow, exact way
        frame = _parse_numbered(path, data)
    else:
        frame.index = pd.RangeIndex(2, len(frame) + 2, name="line")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def _parse_fast(path: Path, data: bytes) -> pd.DataFrame | None:
    """The multithreaded pyarrow reader, when one row is exactly one line."""
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            engine="pyarrow",
            encoding="utf-8-sig",
        )
    except Exception:  # noqa: BLE001 - any failure: the C reader gives a precise error
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return frame if lines == len(frame) + 1 else None


def _parse_numbered(path: Path, data: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError as exc:
        raise CsvImportError(path, 1, "", "empty file: expected a header line") from exc
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = (int(g) for g in found.groups())
            message = f"{saw} fields where the header has {expected} (quote cells with commas)"
            raise CsvImportError(path, line, "", message) from exc
        raise CsvImportError(path, 0, "", f"not a readable CSV file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise CsvImportError(path, 0, "", f"not UTF-8 text ({exc.reason})") from exc
    frame = frame.fillna("")
    embedded = sum(frame[c].str.count("\n") for c in frame.columns)
    before = embedded.cumsum() - embedded  # quoted newlines in earlier rows
    frame.index = pd.Index(range(2, len(frame) + 2), name="line") + before.to_numpy()
    return frame[~(frame == "").all(axis=1)]


# --- validating: vectorised checks and conversions ----------------------------


class _Checks:
    """Collects the first bad line per check; raises the earliest of them."""

    def __init__(self, frame: pd.DataFrame, path: Path) -> None:
        self.frame, self.path = frame, path
        self.errors: list[CsvImportError] = []

    def flag(self, bad: pd.Series, column: str, message: str | Callable[[pd.Series], str]) -> None:
        """Record the first bad line; ``{value}`` in ``message`` becomes the cell.

        ``message`` may instead be a function of the whole offending row.
        """
        if bool(bad.any()):
            line = int(bad.idxmax())
            row = self.frame.loc[line]
            text = message(row) if callable(message) else message.replace("{value}", row[column])
            self.errors.append(CsvImportError(self.path, line, column, text))

    def raise_first(self) -> None:
        if self.errors:
            raise min(self.errors, key=lambda e: e.line)

    def required(self, *columns: str) -> None:
        for column in columns:
            self.flag(self.frame[column] == "", column, "required value is empty")

    def choice(self, column: str, allowed: tuple[str, ...], what: str) -> pd.Series:
        values = self.frame[column].str.lower()
        self.flag(
            ~values.isin(allowed) & (values != ""),
            column,
            f"unknown {what} '{{value}}' (allowed: {', '.join(allowed)})",
        )
        return values

    def integer(self, column: str, low: int, high: int | None, what: str) -> pd.Series:
        """Empty cell -> None; otherwise an int within [low, high]."""
        text = self.frame[column]
        empty = text == ""
        self.flag(~empty & ~text.str.fullmatch(_INTEGER), column, f"{what} '{{value}}' is not an integer")
        numbers = pd.to_numeric(text.where(~empty & text.str.fullmatch(_INTEGER)), errors="coerce")
        outside = numbers < low
        if high is not None:
            outside |= numbers > high
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        self.flag(outside, column, f"{what} {{value}} is out of range {bounds}")
        return pd.Series([None if pd.isna(n) else int(n) for n in numbers], index=text.index, dtype=object)

    def boolean(self, column: str, default: bool | None) -> pd.Series:
        values = self.frame[column].str.lower()
        known = values.isin(_TRUE + _FALSE)
        self.flag(
            ~known & (values != ""),
            column,
            "'{value}' is not a boolean (use true/false, yes/no or 1/0)",
        )
        result = values.isin(_TRUE).astype(object)
        return result.where(known, default)

    def timestamp(self, column: str) -> pd.Series:
        """UTC epoch seconds (float); naive or unparsable values are errors."""
        text = self.frame[column]
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        self.flag(
            parsed.isna() & (text != ""),
            column,
            "unparsable timestamp '{value}' (use ISO 8601, e.g. 2025-01-01T10:00:00+00:00)",
        )
        self.flag(
            parsed.notna() & ~text.str.contains(_AWARE, regex=True),
            column,
            "naive timestamp '{value}' (add a UTC offset such as +00:00)",
        )
        return (parsed - _EPOCH).dt.total_seconds()


def _text_or_none(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values != "", None)


def _split_list(values: pd.Series) -> pd.Series:
    return pd.Series(
        [[p for p in (s.strip() for s in v.split(LIST_SEPARATOR)) if p] if v else [] for v in values],
        index=values.index,
        dtype=object,
    )


def validate_owners(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed owners: goal required; empty stage/industry/targets are unknown."""
    checks = _Checks(frame, Path(path))
    checks.required(OWNER_ID, GOAL)
    out = pd.DataFrame({OWNER_ID: frame[OWNER_ID].astype(object)}, index=frame.index)
    out[CAREER_STAGE] = checks.integer(CAREER_STAGE, MIN_STAGE, MAX_STAGE, "career stage")
    out[INDUSTRY] = _text_or_none(frame[INDUSTRY])
    out[GOAL] = checks.choice(GOAL, GOALS, "goal").astype(object)
    for column in (TARGET_INDUSTRIES, TARGET_COMPANIES):
        if column in frame.columns:
            out[column] = _split_list(frame[column])
    checks.raise_first()
    return out


def validate_contacts(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed contacts: only the ids are required; every attribute may be unknown."""
    checks = _Checks(frame, Path(path))
    checks.required(OWNER_ID, CONTACT_ID)
    out = frame[[OWNER_ID, CONTACT_ID]].astype(object)
    for column in (COMPANY, INDUSTRY, TITLE, NAME):
        if column in frame.columns:
            out[column] = _text_or_none(frame[column])
    out[CAREER_STAGE] = checks.integer(CAREER_STAGE, MIN_STAGE, MAX_STAGE, "career stage")
    if TAGS in frame.columns:
        out[TAGS] = _split_list(frame[TAGS])
    if MUTUAL_CONNECTIONS in frame.columns:
        out[MUTUAL_CONNECTIONS] = checks.integer(MUTUAL_CONNECTIONS, 0, None, "mutual connections")
    if DO_NOT_RECOMMEND in frame.columns:
        out[DO_NOT_RECOMMEND] = checks.boolean(DO_NOT_RECOMMEND, default=False)
    checks.raise_first()
    return out


def validate_events(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Typed events: ids, type, direction and an offset-aware time are required."""
    checks = _Checks(frame, Path(path))
    checks.required(EVENT_ID, OWNER_ID, CONTACT_ID, OCCURRED_AT, TYPE, DIRECTION)
    out = frame[[EVENT_ID, OWNER_ID, CONTACT_ID]].copy()
    out[OCCURRED_AT] = checks.timestamp(OCCURRED_AT)
    out[TYPE] = checks.choice(TYPE, EVENT_TYPES, "event type")
    out[DIRECTION] = checks.choice(DIRECTION, DIRECTIONS, "direction")
    out[USEFUL] = checks.boolean(USEFUL, default=None) if USEFUL in frame.columns else None
    checks.raise_first()
    return out


# --- writing: inside the import's transaction, only what changed ---------------


def _write_owners(conn: Connection, tenant_id: int, rows: pd.DataFrame, path: Path) -> FileReport:
    defaults: dict[str, Callable[[], object]] = {TARGET_INDUSTRIES: list, TARGET_COMPANIES: list}
    return _upsert(conn, _OWNERS, tenant_id, rows, Path(path), [OWNER_ID], defaults, stamp="updated_at")


def _write_contacts(conn: Connection, tenant_id: int, rows: pd.DataFrame, path: Path) -> FileReport:
    defaults: dict[str, Callable[[], object]] = {
        COMPANY: _none,
        INDUSTRY: _none,
        TITLE: _none,
        NAME: _none,
        TAGS: list,
        MUTUAL_CONNECTIONS: _none,
        DO_NOT_RECOMMEND: bool,
    }
    return _upsert(conn, _CONTACTS, tenant_id, rows, Path(path), [OWNER_ID, CONTACT_ID], defaults)


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
    for chunk in _chunks(rows[keys[0]].unique().tolist()):
        query = select(*(table.c[c] for c in (*keys, *values))).where(
            table.c.tenant_id == tenant_id, table.c[keys[0]].in_(chunk)
        )
        for row in conn.execute(query):
            stored[tuple(row[: len(keys)])] = tuple(row[len(keys) :])
    return stored


def _chunks(items: list) -> list[list]:
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]


# --- referential checks: against the database, inside the transaction ----------


def _check_owners_known(conn: Connection, tenant_id: int, tenant: str, rows: pd.DataFrame, path: Path) -> None:
    table = _OWNERS
    known: set[str] = set()
    for chunk in _chunks(rows[OWNER_ID].unique().tolist()):
        query = select(table.c.owner_id).where(table.c.tenant_id == tenant_id, table.c.owner_id.in_(chunk))
        known.update(conn.scalars(query))
    checks = _Checks(rows, Path(path))
    checks.flag(
        ~rows[OWNER_ID].isin(known),
        OWNER_ID,
        f"unknown owner '{{value}}': not in this import's owners file nor stored for tenant '{tenant}'",
    )
    checks.raise_first()


def _check_contacts_known(conn: Connection, tenant_id: int, tenant: str, rows: pd.DataFrame, path: Path) -> None:
    table = _CONTACTS
    known: set[str] = set()
    for chunk in _chunks(rows[OWNER_ID].unique().tolist()):
        query = select(table.c.owner_id, table.c.contact_id).where(
            table.c.tenant_id == tenant_id, table.c.owner_id.in_(chunk)
        )
        known.update(f"{o}\x1f{c}" for o, c in conn.execute(query))
    pairs = rows[OWNER_ID].astype(str) + "\x1f" + rows[CONTACT_ID].astype(str)
    checks = _Checks(rows, Path(path))
    checks.flag(
        ~pairs.isin(known),
        CONTACT_ID,
        lambda row: (
            f"unknown contact '{row[CONTACT_ID]}' of owner '{row[OWNER_ID]}': not in "
            f"this import's contacts file nor stored for tenant '{tenant}'"
        ),
    )
    checks.raise_first()


# --- events: bulk insert, duplicates ignored ----------------------------------


def _write_events(conn: Connection, tenant_id: int, rows: pd.DataFrame, path: Path,
                  received_at: float) -> FileReport:
    duplicate = rows.duplicated(EVENT_ID, keep="first")
    rows = rows[~duplicate]
    if conn.dialect.name == "postgresql":
        inserted = _copy_events_postgres(conn, tenant_id, rows, received_at)
    else:
        inserted = _insert_events_sqlite(conn, tenant_id, rows, received_at)
    in_file = int(duplicate.sum())
    return FileReport(
        Path(path).name,
        rows_read=len(rows) + in_file,
        inserted=inserted,
        duplicates=in_file + len(rows) - inserted,
    )


def _insert_events_sqlite(conn: Connection, tenant_id: int, rows: pd.DataFrame, received_at: float) -> int:
    """executemany on the raw sqlite3 cursor: no per-row Python work beyond the tuple.

    A batch larger than the table is loaded with the (tenant, owner,
    contact, time) index dropped and rebuilt afterwards: one sort instead of a
    million random B-tree inserts, a third faster. SQLite DDL is transactional
    and WAL readers keep their snapshot, so nobody sees the index missing.
    """
    columns = ("tenant_id", "received_at", *EVENT_COLUMNS)
    sql = (
        f"INSERT INTO {Event.__tablename__} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT (tenant_id, {EVENT_ID}) DO NOTHING"
    )
    params = zip(repeat(tenant_id), repeat(received_at), *(rows[c].tolist() for c in EVENT_COLUMNS), strict=False)
    stored = conn.execute(select(func.max(Event.id))).scalar() or 0
    rebuild = len(rows) >= _REBUILD_INDEX_ROWS and len(rows) > stored  # not on re-imports
    if rebuild:
        _EVENT_TIME_INDEX.drop(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
        inserted = cursor.rowcount
    finally:
        cursor.close()
    if rebuild:
        _EVENT_TIME_INDEX.create(conn)
    return inserted


def _copy_events_postgres(conn: Connection, tenant_id: int, rows: pd.DataFrame, received_at: float) -> int:
    """COPY into a temp table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING."""
    staging, columns = "introrank_import_events", ", ".join(EVENT_COLUMNS)
    text = _to_csv(rows[list(EVENT_COLUMNS)])
    with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(
            f"CREATE TEMP TABLE {staging} ({EVENT_ID} text, {OWNER_ID} text, {CONTACT_ID} text, "
            f"{OCCURRED_AT} double precision, {TYPE} text, {DIRECTION} text, {USEFUL} boolean) "
            "ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {staging} ({columns}) FROM STDIN (FORMAT csv)") as copy:
            for start in range(0, len(text), _COPY_CHUNK):
                copy.write(text[start : start + _COPY_CHUNK])
        cursor.execute(
            f"INSERT INTO {Event.__tablename__} (tenant_id, received_at, {columns}) "
            f"SELECT %s, %s, {columns} FROM {staging} "
            f"ON CONFLICT (tenant_id, {EVENT_ID}) DO NOTHING",
            (tenant_id, received_at),
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {staging}")
    return inserted


def _to_csv(frame: pd.DataFrame) -> bytes:
    """CSV for COPY: NULL as an unquoted empty field, floats that round-trip exactly.

    pyarrow's writer (C++) is 15x faster than pandas' for a million rows.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # pragma: no cover - pyarrow comes with mlflow
        text = frame.to_csv(index=False, header=False, float_format="%.17g")
        return text.encode()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if pa.types.is_null(table.schema.field(USEFUL).type):
        table = table.set_column(table.schema.get_field_index(USEFUL), USEFUL, pa.nulls(len(table), pa.bool_()))
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()
