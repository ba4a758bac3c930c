"""CRM export mappings: the shipped HubSpot and Salesforce samples end to end, and every error case."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from introrank.model.features import static_features
from introrank.service.store.csv_import import CsvImportError, import_csvs
from introrank.service.store.csv_import.mappings import SHIPPED, load_mapping, shipped_names
from introrank.service.store.frames import load_dataset
from introrank.service.store.tables import Contact, Event, Owner

DATA = Path(__file__).parent / "data"
HUBSPOT = {
    "owners": DATA / "hubspot" / "owners.csv",
    "contacts": DATA / "hubspot" / "contacts.csv",
    "events": DATA / "hubspot" / "engagements.csv",
}
SALESFORCE = {
    "owners": DATA / "salesforce" / "users.csv",
    "contacts": DATA / "salesforce" / "contacts.csv",
    "events": DATA / "salesforce" / "activities.csv",
}


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def count(engine: Engine, table: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(Event.event_id, Event.type, Event.direction, Event.occurred_at)).all()
    return {r.event_id: (r.type, r.direction, r.occurred_at) for r in rows}


def rewrite(
    source: Path,
    target: Path,
    cells: dict[tuple[int, int], str] | None = None,
    change: Callable[[list[list[str]]], None] | None = None,
) -> Path:
    """A copy of a sample CSV with ``cells`` ({(row, column): text}, row 0 = header = line 1) set."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    for (row, column), text in (cells or {}).items():
        rows[row][column] = text
    if change is not None:
        change(rows)
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return target


# --- the shipped samples end to end ----------------------------------------------


def test_shipped_mappings_load() -> None:
    assert shipped_names() == ["hubspot", "salesforce"]
    for name in shipped_names():
        assert set(load_mapping(name).files) == {"owners", "contacts", "events"}


def test_hubspot_sample_end_to_end(engine: Engine) -> None:
    report = import_csvs(engine, "acme", **HUBSPOT, mapping="hubspot")

    assert (report.owners.inserted, report.contacts.inserted) == (2, 5)
    assert (report.events.rows_read, report.events.inserted) == (10, 10)  # the TASK row is skipped
    assert (count(engine, Owner), count(engine, Contact), count(engine, Event)) == (2, 5, 10)
    stored = events(engine)
    assert "41000000006" not in stored
    assert Counter((t, d) for t, d, _ in stored.values()) == {
        ("message", "out"): 3,  # EMAIL x2, FORWARDED_EMAIL
        ("message", "in"): 2,  # INCOMING_EMAIL
        ("meeting", "out"): 4,  # MEETING x2, CALL x2
        ("touch", "out"): 1,  # NOTE
    }
    assert stored["41000000001"] == ("message", "out", utc(2025, 3, 4, 14, 5))  # epoch ms 1741097100000
    assert stored["41000000004"][2] == utc(2025, 3, 12, 17, 45, 30, 250_000)  # milliseconds kept
    with engine.connect() as conn:
        ada = conn.execute(select(Contact).where(Contact.contact_id == "51201")).one()
        linus = conn.execute(select(Contact).where(Contact.contact_id == "51203")).one()
        alan = conn.execute(select(Contact).where(Contact.contact_id == "51205")).one()
        owner = conn.execute(select(Owner).where(Owner.owner_id == "61234567")).one()
    assert (ada.owner_id, ada.name, ada.company, ada.industry, ada.title) == (
        "61234567", "Ada Byron", "Northwind Analytics", "Computer Software", "CTO",
    )  # fmt: skip
    assert (linus.name, linus.industry, linus.career_stage) == ("Linus", None, None)
    assert alan.company == "Acme, Inc."
    assert (owner.goal, owner.career_stage, owner.industry) == ("business_growth", None, None)


def test_salesforce_sample_end_to_end(engine: Engine) -> None:
    report = import_csvs(engine, "acme", **SALESFORCE, mapping="salesforce")

    assert (report.owners.inserted, report.contacts.inserted) == (2, 5)
    assert report.events.inserted == 9  # the "Not Started" task is skipped
    stored = events(engine)
    assert "00T5g00001Qa04AAAR" not in stored
    assert Counter((t, d) for t, d, _ in stored.values()) == {
        ("message", "out"): 3,  # Email x2, Send Letter
        ("meeting", "in"): 1,  # Call, CallType Inbound
        ("meeting", "out"): 4,  # Call Outbound / Internal, Meeting x2
        ("touch", "out"): 1,  # no Type
    }
    # New York wall times: EST (-5) before 2025-03-09, EDT (-4) after, EST again from 2024-11-03
    assert stored["00T5g00001Qa01AAAR"] == ("message", "out", utc(2025, 3, 4, 14, 5))  # 9:05 AM EST
    assert stored["00U5g00000Ev03AAAR"][2] == utc(2025, 3, 12, 16, 30)  # 12:30 PM EDT
    assert stored["00T5g00001Qa06AAAR"][2] == utc(2024, 11, 1, 14, 0)  # 10:00 AM EDT
    assert stored["00T5g00001Qa07AAAR"][2] == utc(2024, 11, 4, 15, 0)  # 10:00 AM EST
    assert stored["00T5g00001Qa02AAAR"] == ("meeting", "in", utc(2025, 3, 6, 5, 0))  # date only: local midnight
    with engine.connect() as conn:
        sofia = conn.execute(select(Contact).where(Contact.contact_id == "0035g00000Xy1cAAAR")).one()
    assert (sofia.name, sofia.company, sofia.industry, sofia.title) == (
        "Sofia Rossi", "Wayne Enterprises", "Finance", "VP, Strategy",
    )  # fmt: skip


def _stages(engine: Engine) -> dict[str, tuple[float, float, float, float]]:
    """(contact stage, inferred, owner stage, inferred) per contact, as the feature code reads the import."""
    data = load_dataset(engine, "acme")
    static = static_features(data.contacts[["owner_id", "contact_id"]], data.owners, data.contacts)
    columns = ["contact_stage", "contact_stage_inferred", "owner_stage", "owner_stage_inferred"]
    return dict(zip(data.contacts["contact_id"], map(tuple, static[columns].to_numpy()), strict=True))


def test_salesforce_titles_give_the_stages_of_contacts_and_owners(engine: Engine) -> None:
    """No CRM exports a career stage: both sides' stages come from Title (User.Title for owners)."""
    import_csvs(engine, "acme", **SALESFORCE, mapping="salesforce")
    with engine.connect() as conn:
        titles = dict(conn.execute(select(Owner.owner_id, Owner.title)).all())
    assert titles == {"0055g00000A1b2CAAR": "Account Executive", "0055g00000A1b2DAAR": "Partner Manager"}
    assert _stages(engine) == {
        "0035g00000Xy1aAAAR": (7, 1, 3, 1),  # COO; the owner is an Account Executive
        "0035g00000Xy1bAAAR": (5, 1, 3, 1),  # Head of Procurement
        "0035g00000Xy1cAAAR": (7, 1, 3, 1),  # "VP, Strategy" (Finance is not a bank)
        "0035g00000Xy1dAAAR": (6, 1, 3, 1),  # Director of Partnerships; the owner a Partner Manager (IC)
        "0035g00000Xy1eAAAR": (4, 1, 3, 1),  # Staff Engineer
    }


def test_hubspot_titles_give_contact_stages_and_an_owner_title_column_is_read(engine: Engine,
                                                                             tmp_path: Path) -> None:
    owners = rewrite(HUBSPOT["owners"], tmp_path / "owners.csv", change=lambda rows: [
        row.append(text) for row, text in zip(rows, ["Job Title", "Head of Partnerships", ""], strict=True)])
    import_csvs(engine, "acme", **{**HUBSPOT, "owners": owners}, mapping="hubspot")
    stages = _stages(engine)
    assert stages["51201"] == (7, 1, 5, 1)  # CTO; the owner is a Head of Partnerships
    assert stages["51202"][:2] == (4, 1)  # VP Partnerships at Contoso Bank: a bank's VP
    assert stages["51203"][:2] == (5, 1) and stages["51205"][:2] == (4, 1)
    assert np.isnan(stages["51204"][2]) and stages["51204"][:2] == (6, 1)  # this owner has no title


def test_mapping_by_path_and_reimport(sqlite_engine: Engine, db_snapshot: Callable) -> None:
    import_csvs(sqlite_engine, "acme", **HUBSPOT, mapping=SHIPPED / "hubspot.toml")
    before = db_snapshot(sqlite_engine)
    report = import_csvs(sqlite_engine, "acme", **HUBSPOT, mapping=str(SHIPPED / "hubspot.toml"))
    assert (report.events.inserted, report.events.duplicates, report.contacts.unchanged) == (0, 10, 5)
    assert db_snapshot(sqlite_engine) == before


def test_other_timestamp_formats(sqlite_engine: Engine, tmp_path: Path) -> None:
    """HubSpot's UI export (account time zone), Salesforce's Data Loader (ISO, UTC), DST edges."""
    hub = rewrite(HUBSPOT["events"], tmp_path / "engagements.csv", {(1, 1): "2025-03-04 14:05"})
    sf = rewrite(SALESFORCE["events"], tmp_path / "activities.csv", {
        (1, 4): "2025-03-04T19:05:00.000Z",
        (2, 4): "2025-03-06",
        (5, 4): "11/3/2024 1:30 AM",  # happens twice: the first (EDT) is taken
        (6, 4): "3/9/2025 2:30 AM",  # never happens: shifted to 3:00 AM EDT
    })  # fmt: skip
    import_csvs(sqlite_engine, "hub", **{**HUBSPOT, "events": hub}, mapping="hubspot")
    import_csvs(sqlite_engine, "sf", **{**SALESFORCE, "events": sf}, mapping="salesforce")
    stored = events(sqlite_engine)
    assert stored["41000000001"][2] == utc(2025, 3, 4, 19, 5)  # 14:05 EST
    assert stored["00T5g00001Qa01AAAR"][2] == utc(2025, 3, 4, 19, 5)
    assert stored["00T5g00001Qa02AAAR"][2] == utc(2025, 3, 6, 5, 0)
    assert stored["00T5g00001Qa05AAAR"][2] == utc(2024, 11, 3, 5, 30)
    assert stored["00T5g00001Qa06AAAR"][2] == utc(2025, 3, 9, 7, 0)


EVENTS_ONLY = """
[events]
columns = { "Engagement ID" = "event_id", "Activity date" = "occurred_at", "Engagement type" = ["type", "direction"], "Contact ID" = "contact_id", "Activity assigned to" = "owner_id" }
timestamp_format = "epoch_ms"
[events.values.type]
EMAIL = "message"
INCOMING_EMAIL = "message"
[events.values.direction]
email = "out"
Incoming_Email = "in"
"""  # noqa: E501


def test_kind_without_section_is_our_format(sqlite_engine: Engine, tmp_path: Path) -> None:
    mapping = tmp_path / "events_only.toml"
    mapping.write_text(EVENTS_ONLY)
    owners = tmp_path / "owners.csv"
    owners.write_text("owner_id,career_stage,industry,goal\n61234567,4,software,job_search\n")
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("owner_id,contact_id,company,industry,title,career_stage\n61234567,51201,Northwind,,CTO,6\n")
    events_file = rewrite(
        HUBSPOT["events"], tmp_path / "engagements.csv", change=lambda rows: rows.__delitem__(slice(3, None))
    )
    report = import_csvs(sqlite_engine, "acme", owners=owners, contacts=contacts, events=events_file, mapping=mapping)
    assert (report.owners.inserted, report.contacts.inserted, report.events.inserted) == (1, 1, 2)


# --- errors: in the data, named by file, line, our column, their column and value ---


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    """A store holding the HubSpot sample, so 'unchanged' means more than 'empty'."""
    import_csvs(engine, "acme", **HUBSPOT, mapping="hubspot")
    return engine


def test_unmapped_value_names_file_line_column_and_value(loaded: Engine, tmp_path: Path, db_snapshot: Callable) -> None:
    before = db_snapshot(loaded)
    bad = rewrite(HUBSPOT["events"], tmp_path / "engagements.csv", {(6, 2): "FAX"})
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", **{**HUBSPOT, "events": bad}, mapping="hubspot")
    assert str(caught.value) == (
        "engagements.csv line 7, field 'type': value 'FAX' of column 'Engagement type' "
        "has no mapping in hubspot.toml [events.values.type]"
    )
    assert (caught.value.path, caught.value.line, caught.value.field) == (bad, 7, "type")
    assert db_snapshot(loaded) == before


def test_missing_foreign_column_is_named(loaded: Engine, tmp_path: Path, db_snapshot: Callable) -> None:
    before = db_snapshot(loaded)

    def drop_type(rows: list[list[str]]) -> None:
        for row in rows:
            del row[2]

    bad = rewrite(HUBSPOT["events"], tmp_path / "engagements.csv", change=drop_type)
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", **{**HUBSPOT, "events": bad}, mapping="hubspot")
    assert caught.value.line == 1
    assert "column 'Engagement type' is missing from the header" in str(caught.value)
    assert "hubspot.toml [events.skip]" in str(caught.value)  # the first rule that needs it
    no_id = rewrite(SALESFORCE["contacts"], tmp_path / "contacts.csv", {(0, 1): "Owner"})
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", contacts=no_id, mapping="salesforce")
    assert str(caught.value) == (
        "contacts.csv line 1, field 'owner_id': column 'OwnerId' is missing from the header "
        "(salesforce.toml [contacts.columns] maps it to 'owner_id')"
    )
    assert db_snapshot(loaded) == before


def test_unreadable_foreign_timestamp(loaded: Engine, tmp_path: Path, db_snapshot: Callable) -> None:
    before = db_snapshot(loaded)
    bad = rewrite(SALESFORCE["events"], tmp_path / "activities.csv", {(3, 4): "12 March"})
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", **{**SALESFORCE, "events": bad}, mapping="salesforce")
    assert (caught.value.line, caught.value.field) == (4, "occurred_at")
    assert "value '12 March' of column 'ActivityDate' matches no timestamp_format of salesforce.toml" in str(
        caught.value
    )
    assert db_snapshot(loaded) == before


def test_error_after_mapping_is_the_importers(loaded: Engine, tmp_path: Path, db_snapshot: Callable) -> None:
    """Mapped rows go through the normal validation and referential checks, on the file's line."""
    before = db_snapshot(loaded)
    bad = rewrite(HUBSPOT["events"], tmp_path / "engagements.csv", {(4, 4): "99999"})
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", **{**HUBSPOT, "events": bad}, mapping="hubspot")
    assert (caught.value.line, caught.value.field) == (5, "contact_id")
    assert "unknown contact '99999' of owner '61234567'" in str(caught.value)
    assert db_snapshot(loaded) == before


# --- errors: in the mapping file, named by file, line and key ----------------------

GOOD_EVENTS = """
[events]
columns = { "Id" = "event_id", "Who" = "contact_id", "Owner" = "owner_id", "When" = "occurred_at", "Kind" = ["type", "direction"] }
"""  # noqa: E501

BAD_MAPPINGS = {
    "unknown kind": ("[deals]\ncolumns = { \"Deal ID\" = \"deal_id\" }\n", 1, "unknown file kind [deals]"),
    "unknown column": (
        GOOD_EVENTS.replace('"Id" = "event_id"', '"Id" = "evnt_id"'), 3,
        "[events.columns] 'evnt_id' is not one of our events columns (event_id,",
    ),
    "invalid toml": ("[events]\ncolumns = { \"Id\" = }\n", 2, "invalid TOML"),
    "unknown key": (GOOD_EVENTS + "timestamp_fromat = \"epoch_ms\"\n", 4, "[events] unknown key 'timestamp_fromat'"),
    "time keys outside events": ("[owners]\ntimezone = \"UTC\"\n", 2, "[owners] unknown key 'timezone'"),
    "value not ours": (
        GOOD_EVENTS + "[events.values.type]\nEMAIL = \"mesage\"\n", 5,
        "[events] 'mesage' is not a valid type (ours: touch, message,",
    ),
    "values without column": (
        GOOD_EVENTS + "[events.values.useful]\nY = \"true\"\n", 4,
        "[events.values.useful] no column is mapped to our column 'useful'",
    ),
    "produced twice": (
        GOOD_EVENTS + "constants = { owner_id = \"o1\" }\n", 4,
        "[events.constants] our column 'owner_id' is already produced by [events.columns]",
    ),
    "required not produced": (
        GOOD_EVENTS.replace('"Owner" = "owner_id", ', ""), 2,
        "[events] nothing produces our required column 'owner_id'",
    ),
    "bad timezone": (GOOD_EVENTS + "timezone = \"Mars/Olympus\"\n", 4, "unknown timezone 'Mars/Olympus'"),
    "header twice": (
        GOOD_EVENTS.replace('"Kind" =', '"kind " = "useful", "Kind" ='), 3,
        "[events.columns] 'Kind' is named twice",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_bad_mapping_file(case: str, loaded: Engine, tmp_path: Path, db_snapshot: Callable) -> None:
    text, line, message = BAD_MAPPINGS[case]
    mapping = tmp_path / "mine.toml"
    mapping.write_text(text)
    before = db_snapshot(loaded)
    with pytest.raises(CsvImportError) as caught:
        import_csvs(loaded, "acme", **HUBSPOT, mapping=mapping)
    assert (caught.value.path, caught.value.line, caught.value.field) == (mapping, line, "mapping")
    assert str(caught.value).startswith(f"mine.toml line {line}, field 'mapping': ")
    assert message in str(caught.value)
    assert db_snapshot(loaded) == before


def test_unknown_named_mapping(loaded: Engine, db_snapshot: Callable) -> None:
    before = db_snapshot(loaded)
    with pytest.raises(CsvImportError, match=r"unknown mapping 'hubspt' \(shipped: hubspot, salesforce"):
        import_csvs(loaded, "acme", **HUBSPOT, mapping="hubspt")
    with pytest.raises(CsvImportError, match="nope.toml line 1, field 'mapping': cannot read mapping file"):
        import_csvs(loaded, "acme", **HUBSPOT, mapping=Path("nope.toml"))
    assert db_snapshot(loaded) == before


# --- the command line -------------------------------------------------------------


def test_cli_import_with_named_mapping(settings) -> None:
    from introrank.cli import app
    from introrank.service.store.engine import get_engine

    args = ["import", "--owners", str(HUBSPOT["owners"]), "--contacts", str(HUBSPOT["contacts"]),
            "--events", str(HUBSPOT["events"]), "--tenant", "acme", "--mapping", "hubspot"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "engagements.csv: 10 rows read, 10 inserted" in result.output
    engine = get_engine(settings)
    assert (count(engine, Owner), count(engine, Contact), count(engine, Event)) == (2, 5, 10)

    result = CliRunner().invoke(app, ["import", "--events", str(HUBSPOT["events"]), "--mapping", "pipedrive"])
    assert result.exit_code == 2
    assert "unknown mapping 'pipedrive'" in result.stderr
    assert count(engine, Event) == 10
