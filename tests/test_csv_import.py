"""CSV import: counts, idempotence, all-or-nothing errors with file/line/field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from introrank.model.constants import (
    CONTACT_ID,
    CONTACTS_CSV,
    DIRECTION,
    EVENT_ID,
    EVENTS_CSV,
    OCCURRED_AT,
    OWNER_ID,
    OWNERS_CSV,
    TYPE,
    USEFUL,
)
from introrank.service.store.csv_import import CsvImportError, import_csvs
from introrank.service.store.tables import Contact, Event, Owner, PairAggregate

T0 = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)


def owner_rows() -> list[dict]:
    return [
        {"owner_id": "o1", "career_stage": "3", "industry": "tech", "goal": "job_search",
         "target_industries": "fintech; health", "target_companies": "Acme;Globex"},
        {"owner_id": "o2", "career_stage": "", "industry": "", "goal": "business_growth",
         "target_industries": "", "target_companies": ""},
    ]  # fmt: skip


def contact_rows() -> list[dict]:
    return [
        {"owner_id": "o1", "contact_id": "c1", "company": "Acme", "industry": "fintech",
         "title": "CTO", "career_stage": "6", "name": "Ada L", "tags": "alumni;mentor",
         "do_not_recommend": "false", "mutual_connections": "12"},
        {"owner_id": "o1", "contact_id": "c2", "company": "Globex", "industry": "health",
         "title": "PM", "career_stage": "4", "name": "", "tags": "", "do_not_recommend": "yes",
         "mutual_connections": ""},
        {"owner_id": "o1", "contact_id": "c3", "company": "", "industry": "", "title": "",
         "career_stage": "", "name": "", "tags": "", "do_not_recommend": "",
         "mutual_connections": ""},
        {"owner_id": "o2", "contact_id": "c1", "company": "Initech", "industry": "retail",
         "title": "VP", "career_stage": "7", "name": "Bob", "tags": "", "do_not_recommend": "0",
         "mutual_connections": "3"},
    ]  # fmt: skip


def event_rows() -> list[dict]:
    kinds = [("touch", "out", ""), ("message", "in", ""), ("meeting", "out", ""),
             ("give", "out", ""), ("ask", "out", ""), ("intro", "in", "true")]  # fmt: skip
    rows = [
        {"event_id": f"e{i}", "owner_id": "o1", "contact_id": f"c{1 + i % 3}",
         "occurred_at": (T0.replace(day=1 + i)).isoformat(), "type": t, "direction": d,
         "useful": u}
        for i, (t, d, u) in enumerate(kinds)
    ]  # fmt: skip
    rows.append({"event_id": "e9", "owner_id": "o2", "contact_id": "c1",
                 "occurred_at": "2025-02-01T09:30:00-05:00", "type": "referral",
                 "direction": "in", "useful": "false"})  # fmt: skip
    return rows


@pytest.fixture
def files(write_csv: Callable[..., Path]) -> dict[str, Path]:
    return {
        "owners": write_csv(OWNERS_CSV, owner_rows()),
        "contacts": write_csv(CONTACTS_CSV, contact_rows()),
        "events": write_csv(EVENTS_CSV, event_rows()),
    }


def count(engine: Engine, table: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --- happy path -----------------------------------------------------------------


def test_round_trip_counts_and_values(engine: Engine, files: dict[str, Path]) -> None:
    report = import_csvs(engine, "acme", **files)

    assert (report.owners.rows_read, report.owners.inserted) == (2, 2)
    assert (report.contacts.rows_read, report.contacts.inserted) == (4, 4)
    assert (report.events.rows_read, report.events.inserted, report.events.duplicates) == (7, 7, 0)
    assert (count(engine, Owner), count(engine, Contact), count(engine, Event)) == (2, 4, 7)
    with engine.connect() as conn:
        o1 = conn.execute(select(Owner).where(Owner.owner_id == "o1")).one()
        e9 = conn.execute(select(Event).where(Event.event_id == "e9")).one()
        e5 = conn.execute(select(Event).where(Event.event_id == "e5")).one()
        c2 = conn.execute(select(Contact).where(Contact.contact_id == "c2")).one()
    assert o1.target_industries == ["fintech", "health"]
    assert o1.target_companies == ["Acme", "Globex"]
    assert o1.career_stage == 3 and o1.goal == "job_search"
    assert e9.occurred_at == datetime(2025, 2, 1, 14, 30, tzinfo=UTC).timestamp()
    assert (e9.type, e9.direction, e9.useful) == ("referral", "in", False)
    assert (e5.type, e5.useful) == ("intro", True)
    assert c2.do_not_recommend is True and c2.career_stage == 4


def test_summary_has_counts_but_no_names(engine: Engine, files: dict[str, Path]) -> None:
    summary = import_csvs(engine, "acme", **files).summary()
    assert "events.csv: 7 rows read, 7 inserted" in summary
    assert "Ada" not in summary and "Bob" not in summary


def test_reimport_changes_nothing(
    engine: Engine, files: dict[str, Path], db_snapshot: Callable
) -> None:
    import_csvs(engine, "acme", **files)
    before = db_snapshot(engine)
    again = import_csvs(engine, "acme", **files)

    assert again.events.inserted == 0 and again.events.duplicates == 7
    assert (again.owners.inserted, again.owners.updated, again.owners.unchanged) == (0, 0, 2)
    assert (again.contacts.inserted, again.contacts.updated, again.contacts.unchanged) == (0, 0, 4)
    assert db_snapshot(engine) == before  # not even updated_at moved


def test_changed_rows_are_updated_and_absent_columns_kept(
    engine: Engine, files: dict[str, Path], write_csv: Callable[..., Path]
) -> None:
    import_csvs(engine, "acme", **files)
    rows = contact_rows()
    rows[0]["title"] = "CEO"
    columns = ["owner_id", "contact_id", "company", "industry", "title", "career_stage"]
    report = import_csvs(engine, "acme", contacts=write_csv("c2.csv", rows, columns))

    assert (report.contacts.updated, report.contacts.unchanged) == (1, 3)
    with engine.connect() as conn:
        c1 = conn.execute(select(Contact).where(Contact.contact_id == "c1",
                                                Contact.owner_id == "o1")).one()  # fmt: skip
        c2 = conn.execute(select(Contact).where(Contact.contact_id == "c2")).one()
    assert c1.title == "CEO" and c1.name == "Ada L" and c1.tags == ["alumni", "mentor"]
    assert c2.do_not_recommend is True  # the file had no do_not_recommend column


def test_empty_attribute_cells_load_as_null(engine: Engine, files: dict[str, Path]) -> None:
    import_csvs(engine, "acme", **files)
    with engine.connect() as conn:
        c3 = conn.execute(select(Contact).where(Contact.contact_id == "c3")).one()
        o2 = conn.execute(select(Owner).where(Owner.owner_id == "o2")).one()
        e0 = conn.execute(select(Event).where(Event.event_id == "e0")).one()
    assert (c3.company, c3.industry, c3.title, c3.career_stage, c3.name) == (None,) * 5
    assert (c3.mutual_connections, c3.tags, c3.do_not_recommend) == (None, [], False)
    assert (o2.career_stage, o2.industry, o2.target_industries) == (None, None, [])
    assert e0.useful is None


def test_minimal_columns_only(engine: Engine, write_csv: Callable[..., Path]) -> None:
    owners = write_csv(OWNERS_CSV, [{"owner_id": "o1", "career_stage": "", "industry": "",
                                     "goal": "skill_building"}])  # fmt: skip
    contact_row = {"owner_id": "o1", "contact_id": "c1", "company": "", "industry": "", "title": "",
               "career_stage": ""}  # fmt: skip
    contacts = write_csv(CONTACTS_CSV, [contact_row])
    events = write_csv(EVENTS_CSV, [{"event_id": "x", "owner_id": "o1", "contact_id": "c1",
                                     "occurred_at": "2025-01-01T10:00:00Z", "type": "touch",
                                     "direction": "out"}])  # fmt: skip
    report = import_csvs(engine, "acme", owners=owners, contacts=contacts, events=events)
    assert report.events.inserted == 1
    with engine.connect() as conn:
        contact = conn.execute(select(Contact)).one()
    assert (contact.tags, contact.do_not_recommend, contact.name) == ([], False, None)


def test_duplicate_event_ids_in_one_file_are_one_event(
    engine: Engine, files: dict[str, Path], write_csv: Callable[..., Path]
) -> None:
    rows = event_rows()
    rows.insert(3, {**rows[0], "type": "meeting"})  # same event_id e0, later row
    report = import_csvs(engine, "acme", owners=files["owners"], contacts=files["contacts"],
                         events=write_csv("dup.csv", rows))  # fmt: skip

    assert (report.events.rows_read, report.events.inserted, report.events.duplicates) == (8, 7, 1)
    with engine.connect() as conn:
        stored = conn.execute(select(Event.type).where(Event.event_id == "e0")).scalar_one()
    assert stored == "touch"  # the first row wins


def test_events_may_reference_contacts_stored_earlier(
    engine: Engine, files: dict[str, Path]
) -> None:
    import_csvs(engine, "acme", owners=files["owners"], contacts=files["contacts"])
    report = import_csvs(engine, "acme", events=files["events"])
    assert report.events.inserted == 7


def test_tenants_are_separate(engine: Engine, files: dict[str, Path]) -> None:
    import_csvs(engine, "acme", **files)
    with pytest.raises(CsvImportError, match="unknown contact 'c1' of owner 'o1'"):
        import_csvs(engine, "globex", events=files["events"])
    report = import_csvs(engine, "globex", **files)
    assert report.events.inserted == 7 and count(engine, Event) == 14


# A real database condition that breaks the aggregate refresh (and nothing before it).
FAIL_AGGREGATE_WRITES = {
    "sqlite": ["CREATE TRIGGER no_aggregates BEFORE INSERT ON pair_aggregates "
               "BEGIN SELECT RAISE(ABORT, 'aggregate refresh failed'); END"],
    "postgresql": ["CREATE FUNCTION no_aggregates() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'aggregate refresh failed'; END $$",
                   "CREATE TRIGGER no_aggregates BEFORE INSERT ON pair_aggregates "
                   "FOR EACH ROW EXECUTE FUNCTION no_aggregates()"],
}  # fmt: skip


def test_aggregates_refresh_in_the_import_transaction(
    engine: Engine,
    files: dict[str, Path],
    write_csv: Callable[..., Path],
    db_snapshot: Callable,
) -> None:
    import_csvs(engine, "acme", **files)
    aggregates = PairAggregate.__table__
    with engine.connect() as conn:
        owners = set(conn.scalars(select(aggregates.c.owner_id).distinct()))
        counted = conn.execute(select(func.sum(aggregates.c.n_total))).scalar_one()
    assert (owners, counted) == ({"o1", "o2"}, 7)  # every owner of the file, after all its events are in

    with engine.begin() as conn:
        for statement in FAIL_AGGREGATE_WRITES[engine.dialect.name]:
            conn.execute(text(statement))
    before = db_snapshot(engine)
    more = write_csv("more.csv", [*event_rows(), {**event_rows()[0], "event_id": "new"}])
    with pytest.raises(Exception, match="aggregate refresh failed"):  # the driver's own error type
        import_csvs(engine, "acme", events=more)
    assert db_snapshot(engine) == before


# --- bad input: a clear error, and nothing written --------------------------------


def _set(rows: list[dict], index: int, **changes: str) -> list[dict]:
    rows[index].update(changes)
    return rows


# (file to break, broken rows, expected line, field, message fragment)
BAD_INPUTS = {
    "unknown event type": (
        "events", _set(event_rows(), 2, type="call"), 4, TYPE,
        "unknown event type 'call' (allowed: touch, message, meeting, give, ask, intro, referral)",
    ),
    "naive timestamp": (
        "events", _set(event_rows(), 4, occurred_at="2025-01-01T10:00:00"), 6, OCCURRED_AT,
        "naive timestamp '2025-01-01T10:00:00' (add a UTC offset such as +00:00)",
    ),
    "date without time": (
        "events", _set(event_rows(), 0, occurred_at="2025-01-01"), 2, OCCURRED_AT,
        "naive timestamp",
    ),
    "unparsable timestamp": (
        "events", _set(event_rows(), 1, occurred_at="yesterday"), 3, OCCURRED_AT,
        "unparsable timestamp 'yesterday'",
    ),
    "bad direction": (
        "events", _set(event_rows(), 3, direction="sideways"), 5, DIRECTION,
        "unknown direction 'sideways' (allowed: out, in)",
    ),
    "bad boolean": (
        "events", _set(event_rows(), 6, useful="maybe"), 8, USEFUL, "'maybe' is not a boolean",
    ),
    "empty event id": ("events", _set(event_rows(), 5, event_id=""), 7, EVENT_ID, "required"),
    "event for unknown contact": (
        "events", _set(event_rows(), 5, contact_id="c99"), 7, CONTACT_ID,
        "unknown contact 'c99' of owner 'o1'",
    ),
    "event for contact of another owner": (
        "events", _set(event_rows(), 6, contact_id="c2"), 8, CONTACT_ID,
        "unknown contact 'c2' of owner 'o2'",
    ),
    "non-integer stage": (
        "contacts", _set(contact_rows(), 1, career_stage="senior"), 3, "career_stage",
        "career stage 'senior' is not an integer",
    ),
    "fractional stage": (
        "contacts", _set(contact_rows(), 0, career_stage="2.5"), 2, "career_stage",
        "not an integer",
    ),
    "stage out of range": (
        "owners", _set(owner_rows(), 1, career_stage="9"), 3, "career_stage",
        "career stage 9 is out of range 1..7",
    ),
    "bad goal": (
        "owners", _set(owner_rows(), 0, goal="fame"), 2, "goal", "unknown goal 'fame' (allowed:",
    ),
    "missing goal": ("owners", _set(owner_rows(), 1, goal=""), 3, "goal", "required"),
    "bad mutual connections": (
        "contacts", _set(contact_rows(), 3, mutual_connections="-2"), 5, "mutual_connections",
        "out of range 0..1000000",
    ),
    "mutual connections over the ceiling": (  # once an OverflowError (SQLite) or DataError (PostgreSQL)
        "contacts", _set(contact_rows(), 0, mutual_connections="99999999999999999999"), 2, "mutual_connections",
        "out of range 0..1000000",
    ),
    "contact for unknown owner": (
        "contacts", _set(contact_rows(), 2, owner_id="o7"), 4, OWNER_ID,
        "unknown owner 'o7': not in this import's owners file nor stored for tenant 'acme'",
    ),
    # The one id and text grammar of model/grammar.py, as the API applies it.
    "id with a slash": (
        "contacts", _set(contact_rows(), 1, contact_id="c/2"), 3, CONTACT_ID,
        "id 'c/2': ids are 1-200 characters",
    ),
    "dot id": ("owners", _set(owner_rows(), 1, owner_id=".."), 3, OWNER_ID, "'.' and '..' are not ids"),
    "id too long": (
        "events", _set(event_rows(), 3, event_id="e" * 201), 5, EVENT_ID, "...': ids are 1-200 characters",
    ),
    "text too long": (
        "contacts", _set(contact_rows(), 2, company="A" * 201), 4, "company", "at most 200 characters",
    ),
    "control character in a text": (
        "contacts", _set(contact_rows(), 0, name="Ada\x00L"), 2, "name", "no control characters",
    ),
    "too many list items": (
        "owners", _set(owner_rows(), 0, target_companies=";".join(f"c{i}" for i in range(51))), 2,
        "target_companies", "at most 50 items",
    ),
    "event in the future": (
        "events", _set(event_rows(), 2, occurred_at="2999-01-01T00:00:00+00:00"), 4, OCCURRED_AT,
        "must lie between 1970-01-01T00:00:00Z and one day from now",
    ),
    "event before 1970": (
        "events", _set(event_rows(), 0, occurred_at="1969-12-31T23:00:00+00:00"), 2, OCCURRED_AT,
        "must lie between",
    ),
}  # fmt: skip

FILE_NAMES = {"owners": OWNERS_CSV, "contacts": CONTACTS_CSV, "events": EVENTS_CSV}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_row_names_file_line_field_and_writes_nothing(
    case: str,
    sqlite_engine: Engine,
    files: dict[str, Path],
    write_csv: Callable[..., Path],
    db_snapshot: Callable,
) -> None:
    kind, rows, line, field, fragment = BAD_INPUTS[case]
    import_csvs(sqlite_engine, "other", **files)  # some prior data that must survive untouched
    before = db_snapshot(sqlite_engine)
    broken = {**files, kind: write_csv(f"bad_{FILE_NAMES[kind]}", rows)}

    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **broken)

    error = caught.value
    assert (error.path.name, error.line, error.field) == (f"bad_{FILE_NAMES[kind]}", line, field)
    assert fragment in str(error)
    assert str(error).startswith(f"bad_{FILE_NAMES[kind]} line {line}, field '{field}': ")
    assert db_snapshot(sqlite_engine) == before


def test_error_message_format(sqlite_engine: Engine, files: dict, write_csv: Callable) -> None:
    rows = [{**r, "occurred_at": "2025-01-01T10:00:00+00:00"} for r in event_rows()]
    rows += [{**rows[0], "event_id": f"x{i}"} for i in range(9)]
    rows[15]["occurred_at"] = "2025-01-01T10:00:00"
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **{**files, "events": write_csv(EVENTS_CSV, rows)})
    assert str(caught.value) == (
        "events.csv line 17, field 'occurred_at': naive timestamp '2025-01-01T10:00:00' "
        "(add a UTC offset such as +00:00)"
    )


def test_bad_event_after_valid_owners_and_contacts_rolls_back_everything(
    engine: Engine, files: dict[str, Path], write_csv: Callable[..., Path], db_snapshot: Callable
) -> None:
    empty = db_snapshot(engine)
    rows = event_rows() + [{**event_rows()[0], "event_id": "late", "contact_id": "nobody"}]
    with pytest.raises(CsvImportError) as caught:
        import_csvs(engine, "acme", **{**files, "events": write_csv("bad.csv", rows)})
    assert (caught.value.line, caught.value.field) == (9, CONTACT_ID)
    assert db_snapshot(engine) == empty  # no tenant, owner, contact or event left behind

    import_csvs(engine, "acme", **files)  # the file fixed: the same import now succeeds
    assert (count(engine, Owner), count(engine, Contact), count(engine, Event)) == (2, 4, 7)


@pytest.mark.parametrize("kind", ["owners", "contacts", "events"])
def test_missing_required_column_is_line_1(
    kind: str, sqlite_engine: Engine, files: dict, write_csv: Callable, db_snapshot: Callable
) -> None:
    rows = {"owners": owner_rows, "contacts": contact_rows, "events": event_rows}[kind]()
    dropped = {"owners": "goal", "contacts": CONTACT_ID, "events": DIRECTION}[kind]
    columns = [c for c in rows[0] if c != dropped]
    before = db_snapshot(sqlite_engine)
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **{**files, kind: write_csv("x.csv", rows, columns)})
    assert (caught.value.line, caught.value.field) == (1, dropped)
    assert "required column is missing" in str(caught.value)
    assert db_snapshot(sqlite_engine) == before


def test_fix_and_rerun_succeeds(sqlite_engine: Engine, files: dict, write_csv: Callable) -> None:
    bad = write_csv(EVENTS_CSV, _set(event_rows(), 2, occurred_at="2025-03-01 10:00"))
    with pytest.raises(CsvImportError):
        import_csvs(sqlite_engine, "acme", **{**files, "events": bad})
    fixed = write_csv(EVENTS_CSV, _set(event_rows(), 2, occurred_at="2025-03-01 10:00+01:00"))
    report = import_csvs(sqlite_engine, "acme", **{**files, "events": fixed})
    assert report.events.inserted == 7
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(Event.occurred_at).where(Event.event_id == "e2")).scalar_one()
    assert stored == datetime(2025, 3, 1, 9, 0, tzinfo=UTC).timestamp()


def test_line_numbers_count_blank_lines_and_quoted_newlines(
    sqlite_engine: Engine, files: dict[str, Path], tmp_path: Path
) -> None:
    header = "event_id,owner_id,contact_id,occurred_at,type,direction"
    path = tmp_path / EVENTS_CSV
    path.write_text(
        f"{header}\n"
        "\n"  # line 2: blank
        'e1,o1,"c\n1",2025-01-01T10:00:00Z,touch,out\n'  # lines 3-4: a quoted newline (not an id)
        "e2,o1,c1,2025-01-01T10:00:00Z,call,out\n"  # line 5
    )
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **{**files, "events": path})
    assert (caught.value.line, caught.value.field) == (3, CONTACT_ID)
    path.write_text(f"{header}\n\ne1,o1,c1,2025-01-01T10:00:00Z,touch,out\n\n"
                    "e2,o1,c1,2025-01-01T10:00:00Z,call,out\n")  # blank lines 2 and 4
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **{**files, "events": path})
    assert (caught.value.line, caught.value.field) == (5, TYPE)


def test_header_whitespace_case_and_bom_are_tolerated(
    sqlite_engine: Engine, files: dict[str, Path], tmp_path: Path
) -> None:
    path = tmp_path / EVENTS_CSV
    path.write_text(
        "\ufeffEvent_ID, owner_id ,contact_id,occurred_at,TYPE,direction\n"
        "e1 , o1,c1, 2025-01-01T10:00:00+02:00 ,Touch,OUT\n",
        encoding="utf-8",
    )
    report = import_csvs(sqlite_engine, "acme", **{**files, "events": path})
    assert report.events.inserted == 1
    with sqlite_engine.connect() as conn:
        event = conn.execute(select(Event)).one()
    assert (event.event_id, event.type, event.direction) == ("e1", "touch", "out")


def test_unreadable_file_and_mapping_errors(sqlite_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(CsvImportError, match="missing.csv: cannot read file"):
        import_csvs(sqlite_engine, "acme", events=tmp_path / "missing.csv")
    mapping = tmp_path / "hubspot.toml"
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", events=tmp_path / "x.csv", mapping=mapping)
    assert (caught.value.path, caught.value.line, caught.value.field) == (mapping, 1, "mapping")
    assert "cannot read mapping file" in str(caught.value)


def test_ragged_row_names_its_line(sqlite_engine: Engine, files: dict, tmp_path: Path) -> None:
    path = tmp_path / EVENTS_CSV
    path.write_text(
        "event_id,owner_id,contact_id,occurred_at,type,direction\n"
        "e1,o1,c1,2025-01-01T10:00:00Z,touch,out\n"
        "e2,o1,c1,2025-01-01T10:00:00Z,touch,out,extra\n"
    )
    with pytest.raises(CsvImportError) as caught:
        import_csvs(sqlite_engine, "acme", **{**files, "events": path})
    assert caught.value.line == 3 and "7 fields where the header has 6" in str(caught.value)


def test_header_only_and_empty_files(sqlite_engine: Engine, files: dict, tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("event_id,owner_id,contact_id,occurred_at,type,direction\n")
    report = import_csvs(sqlite_engine, "acme", **{**files, "events": header_only})
    assert (report.events.rows_read, report.events.inserted) == (0, 0)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CsvImportError, match="empty.csv line 1: empty file"):
        import_csvs(sqlite_engine, "acme", events=empty)
