"""LinkedIn archive import: every file kind, its bad inputs (file, line, field), all or nothing,
idempotent re-import, and no message, invitation or recommendation text in the store or a log.

The sample archive (tests/data/linkedin, synthetic people) has the shapes of a real export:
the "Notes:" preamble of Connections.csv, a closed account's empty row, a percent-encoded
slug, quoted multi-line message bodies, a group thread, a sponsored InMail without a sender
URL, a recruiter who is not a connection, endorsement URLs without a scheme, and two
connections of the same name (so a recommendation from that name cannot be matched).
"""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from introrank.service.store.csv_import import CsvImportError
from introrank.service.store.csv_import.linkedin import import_linkedin
from introrank.service.store.csv_import.linkedin.profiles import canonical_url, contact_id_of, detect_owner
from introrank.service.store.tables import Contact, Event, Owner

SAMPLE = Path(__file__).parent / "data" / "linkedin"
OWNER_URL = "https://www.linkedin.com/in/robin-vale-0a1b2c"
MARKERS = ("CONTENT-MARKER-7f3a", "SUBJECT-MARKER-51c2", "INVITE-MARKER-3d9e", "RECOMMENDATION-MARKER-9b4f")
EVENTS = 33  # 11 connections, 3 invitations, 13 messages, 4 endorsements, 2 recommendations matched


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A writable copy of the sample archive."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "Basic_LinkedInDataExport_12-03-2025"))


def edit(archive: Path, name: str, old: str, new: str) -> None:
    path = archive / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def events_of(engine: Engine, contact_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Event.type, Event.direction).where(Event.contact_id == contact_id)
                            .order_by(Event.occurred_at, Event.type, Event.direction))
        return [tuple(r) for r in rows]


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --- the sample archive -------------------------------------------------------------


def test_sample_archive_imports_every_file_kind(engine: Engine, archive: Path) -> None:
    report = import_linkedin(engine, "me", archive, "robin")
    store = report.store
    assert (store.owners.inserted, store.contacts.inserted, store.events.inserted) == (1, 13, EVENTS)
    by_file = {s.file: s for s in report.sources}
    assert by_file["Connections.csv"].skipped == {"no profile URL (closed or hidden account)": 1}
    assert by_file["messages.csv"].events == 13
    assert by_file["Recommendations_Received.csv"].skipped == {"not matched to exactly one connection by name": 1}

    with engine.connect() as conn:
        contacts = {r.contact_id: r for r in conn.execute(select(Contact))}
    amara = contacts["amara-okafor-3b71a2"]
    assert (amara.name, amara.company, amara.title) == ("Amara Okafor", "Northwind Analytics", "Senior Data Scientist")
    assert contacts["chen-wei-88"].company == "Lumen & Co, Ltd"  # a quoted comma
    assert (contacts["ines-duarte"].company, contacts["ines-duarte"].title) == (None, None)
    zoe = contact_id_of(canonical_url("https://www.linkedin.com/in/zo%C3%AB-brandt"))
    assert zoe.startswith("li:") and contacts[zoe].name == "Zoë Brandt"  # slug outside the id grammar: hashed
    assert contacts["priya-raman-talent"].company is None  # a recruiter who is not a connection
    assert "robin-vale-0a1b2c" not in contacts  # the owner is never their own contact

    # Connection first, endorsement given (give out), then a 1:1 thread: out, in, out.
    assert events_of(engine, "amara-okafor-3b71a2") == [
        ("touch", "out"), ("give", "out"), ("message", "out"), ("message", "in"), ("message", "out")]
    # An endorsement received is an inbound touch; a group message counts for every recipient,
    # a reply in the group only for its sender.
    assert events_of(engine, "hiroshi-tanaka-a1") == [
        ("touch", "out"), ("touch", "in"), ("message", "out"), ("message", "in")]
    assert events_of(engine, "chen-wei-88") == [("touch", "out"), ("message", "out")]
    # Invitations.csv says Ines asked: her connection is inbound, and so is the invitation.
    assert events_of(engine, "ines-duarte") == [("touch", "in"), ("touch", "in")]
    assert events_of(engine, zoe) == [("touch", "out"), ("touch", "out")]  # invited 12/2, connected 03 Dec
    assert events_of(engine, "freya-holm-5521") == [("touch", "out"), ("give", "out"), ("message", "out")]
    assert events_of(engine, "emekanwosu") == [("touch", "out"), ("touch", "in")]  # recommendation received
    assert events_of(engine, "marta-kowalski-pm") == [("touch", "out")]  # a pending invitation
    with engine.connect() as conn:
        connected = conn.execute(select(Event.occurred_at).where(
            Event.contact_id == "amara-okafor-3b71a2", Event.event_id.like("li:conn:%"))).scalar_one()
        owner = conn.execute(select(Owner.goal, Owner.career_stage)).one()
    assert connected == 1678752000.0  # 14 Mar 2023, 00:00 UTC
    assert tuple(owner) == ("job_search", None)


def test_reimport_gives_duplicates_not_doubles(engine: Engine, archive: Path, db_snapshot) -> None:
    import_linkedin(engine, "me", archive, "robin")
    before = db_snapshot(engine)
    again = import_linkedin(engine, "me", archive, "robin").store
    assert (again.events.inserted, again.events.duplicates) == (0, EVENTS)
    assert (again.contacts.inserted, again.contacts.updated, again.contacts.unchanged) == (0, 0, 13)
    assert db_snapshot(engine) == before


def test_a_later_archive_adds_only_what_is_new(sqlite_engine: Engine, archive: Path) -> None:
    import_linkedin(sqlite_engine, "me", archive, "robin")
    with (archive / "messages.csv").open("a", encoding="utf-8") as handle:
        handle.write("2-bmV3,,Amara Okafor,https://www.linkedin.com/in/amara-okafor-3b71a2,Robin Vale,"
                     f"{OWNER_URL},2025-05-01 08:00:00 UTC,,\"CONTENT-MARKER-7f3a again\",INBOX,\n")
    edit(archive, "Connections.csv", "Senior Data Scientist", "Principal Data Scientist")
    report = import_linkedin(sqlite_engine, "me", archive, "robin").store
    assert (report.events.inserted, report.events.duplicates) == (1, EVENTS)
    assert (report.contacts.updated, report.contacts.unchanged) == (1, 12)


def test_two_owners_of_one_tenant_keep_their_own_events(sqlite_engine: Engine, archive: Path) -> None:
    import_linkedin(sqlite_engine, "me", archive, "robin")
    report = import_linkedin(sqlite_engine, "me", archive, "robin-twin", owner_url=OWNER_URL).store
    assert report.events.inserted == EVENTS
    assert count(sqlite_engine, Event) == 2 * EVENTS


def test_a_zip_with_the_files_in_a_folder_reads_the_same(sqlite_engine: Engine, archive: Path, tmp_path: Path) -> None:
    path = tmp_path / "Complete_LinkedInDataExport_12-03-2025.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        for file in archive.iterdir():
            bundle.write(file, f"Complete_LinkedInDataExport_12-03-2025/{file.name.lower()}")
    report = import_linkedin(sqlite_engine, "me", path, "robin")
    assert report.store.events.inserted == EVENTS
    assert report.archive == path.name


def test_no_message_or_free_text_reaches_the_store_or_a_log(
    sqlite_engine: Engine, archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    report = import_linkedin(sqlite_engine, "me", archive, "robin")
    sqlite_engine.dispose()  # close connections so nothing stays in memory only
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("test.db*"))
    assert b"Amara Okafor" in stored  # the search works: names are stored, as a contact's name
    for marker in MARKERS:
        assert marker.encode() not in stored
    printed = report.summary() + caplog.text
    for text in (*MARKERS, "Amara", "Okafor", "robin-vale"):
        assert text not in printed


# --- the owner's own messages ------------------------------------------------------------


def test_owner_found_in_messages_when_invitations_are_absent(sqlite_engine: Engine, archive: Path) -> None:
    (archive / "Invitations.csv").unlink()
    report = import_linkedin(sqlite_engine, "me", archive, "robin")
    assert report.owner_from == "the one person in every conversation of messages.csv"
    assert events_of(sqlite_engine, "dolores-ibarra") == [("touch", "out"), ("message", "in"), ("message", "out")]


def test_owner_url_option_wins_and_is_checked(sqlite_engine: Engine, archive: Path) -> None:
    report = import_linkedin(sqlite_engine, "me", archive, "robin", owner_url="linkedin.com/in/Robin-Vale-0a1b2c/")
    assert report.owner_from == "--owner-url"
    assert report.store.events.inserted == EVENTS
    with pytest.raises(CsvImportError, match="--owner-url, field 'owner_url': 'https://example.com/robin' is not"):
        import_linkedin(sqlite_engine, "me", archive, "robin", owner_url="https://example.com/robin")


def test_owner_that_cannot_be_told_asks_for_owner_url(sqlite_engine: Engine, archive: Path) -> None:
    (archive / "Invitations.csv").unlink()
    lines = (archive / "messages.csv").read_text(encoding="utf-8").split("\n")
    (archive / "messages.csv").write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")  # one conversation only
    with pytest.raises(CsvImportError, match="messages.csv: cannot tell which messages you sent: give --owner-url"):
        import_linkedin(sqlite_engine, "me", archive, "robin")
    assert count(sqlite_engine, Owner) == 0


def test_detect_owner_needs_a_strict_lead() -> None:
    a, b, me = "linkedin.com/in/a", "linkedin.com/in/b", "linkedin.com/in/me"
    assert detect_owner([("1", {me, a}), ("2", {me, b})], set()) == me
    assert detect_owner([("1", {me, a})], set()) is None  # one conversation: either could be the owner
    assert detect_owner([("1", {me, a}), ("2", {me, a})], set()) is None  # a tie
    assert detect_owner([("1", {me, a}), ("2", {me, a})], {a}) == me  # a connection is never the owner


def test_profile_urls_and_contact_ids() -> None:
    spellings = ["https://www.linkedin.com/in/Ada-L", "www.linkedin.com/in/ada-l/", "https://uk.linkedin.com/in/ada-l?x=1",
                 "http://linkedin.com/in/ada-l#top"]
    assert {canonical_url(s) for s in spellings} == {"linkedin.com/in/ada-l"}
    assert contact_id_of("linkedin.com/in/ada-l") == "ada-l"
    hashed = contact_id_of("linkedin.com/pub/ada-l/12/345/678")
    assert hashed == contact_id_of("linkedin.com/pub/ada-l/12/345/678")  # stable
    assert hashed.startswith("li:") and len(hashed) == 19
    assert canonical_url("https://example.com/in/ada-l") is None and canonical_url("") is None


def test_owner_profile_from_options_and_left_alone_when_not_given(sqlite_engine: Engine, archive: Path) -> None:
    import_linkedin(sqlite_engine, "me", archive, "robin", goal="career_support", career_stage=3, industry="Software")
    import_linkedin(sqlite_engine, "me", archive, "robin", goal="career_support")
    with sqlite_engine.connect() as conn:
        assert tuple(conn.execute(select(Owner.goal, Owner.career_stage, Owner.industry)).one()) == (
            "career_support", 3, "Software")
    with pytest.raises(CsvImportError, match="--owner-id, field 'goal': unknown goal 'fame'"):
        import_linkedin(sqlite_engine, "me", archive, "robin", goal="fame")
    with pytest.raises(CsvImportError, match="--owner-id, field 'owner_id': ids are"):
        import_linkedin(sqlite_engine, "me", archive, "robin vale")


# --- bad inputs: file, line, field; nothing written ---------------------------------------

BAD = [  # file, old text, new text, the error's start
    ("Connections.csv", "14 Mar 2023", "14 Mrz 2023",
     "Connections.csv line 5, field 'Connected On': value '14 Mrz 2023' is not a date like '03 Dec 2024'"),
    ("Connections.csv", "30 Nov 2019", "", "Connections.csv line 9, field 'Connected On': required value is empty"),
    ("Connections.csv", "21 Apr 2025", "01 Jan 2100", "Connections.csv line 15, field 'Connected On': date"),
    ("Connections.csv", ",URL,", ",Profile,", "Connections.csv line 4, field 'URL': required column is missing"),
    ("Connections.csv", "https://www.linkedin.com/in/dolores-ibarra", "dolores at cobalt",
     "Connections.csv line 8, field 'URL': 'dolores at cobalt' is not a LinkedIn profile URL"),
    ("Connections.csv", "Head of Talent Acquisition", "Head " * 50, "Connections.csv line 8, field 'Position': text"),
    ("Connections.csv", "First Name,Last Name", "Given Name,Family Name",
     "Connections.csv, field 'First Name': no header line starting with 'First Name'"),
    ("messages.csv", "2025-01-06 17:40:02 UTC", "06/01/2025 17:40",
     "messages.csv line 4, field 'DATE': value '06/01/2025 17:40' is not a date"),  # line 2-3 is one quoted message
    ("messages.csv", "SENDER PROFILE URL", "SENDER",
     "messages.csv line 1, field 'SENDER PROFILE URL': required column"),
    ("messages.csv", "https://www.linkedin.com/in/chen-wei-88;", "chen-wei-88;",
     "messages.csv line 8, field 'RECIPIENT PROFILE URLS': 'chen-wei-88;"),
    ("messages.csv", "2-ZmQxMjM0NTYtNzg5MC00YWJjLWRlZjAtMTIzNDU2Nzg5MGFiXzAxMA==", "",
     "messages.csv line 15, field 'CONVERSATION ID': required value is empty"),
    ("Invitations.csv", "OUTGOING", "SIDEWAYS",
     "Invitations.csv line 3, field 'Direction': unknown direction 'SIDEWAYS'"),
    ("Invitations.csv", "4/21/25, 8:02 AM", "yesterday", "Invitations.csv line 2, field 'Sent At': value 'yesterday'"),
    ("Invitations.csv", ",inviteeProfileUrl", ",invitee",
     "Invitations.csv line 1, field 'inviteeProfileUrl': required"),
    ("Endorsement_Given_Info.csv", "2023/02/27 09:41:13 UTC", "27 Feb 2023",
     "Endorsement_Given_Info.csv line 3, field 'Endorsement Date': value '27 Feb 2023' is not a date"),
    ("Endorsement_Given_Info.csv", "www.linkedin.com/in/amara-okafor-3b71a2", "www.example.com/amara",
     "Endorsement_Given_Info.csv line 2, field 'Endorsee Public Url'"),
    ("Endorsement_Received_Info.csv", "Endorser Public Url", "Endorser Url",
     "Endorsement_Received_Info.csv line 1, field 'Endorser Public Url': required column is missing"),
    ("Recommendations_Given.csv", "03/18/25, 4:10 PM", "2025-18-03",
     "Recommendations_Given.csv line 2, field 'Creation Date': value '2025-18-03' is not a date"),
    ("Recommendations_Received.csv", "Creation Date", "Created",
     "Recommendations_Received.csv line 1, field 'Creation Date': required column is missing"),
]


@pytest.mark.parametrize(("file", "old", "new", "error"), BAD, ids=[f"{b[0]}:{b[3][len(b[0]):][:40]}" for b in BAD])
def test_bad_input_names_file_line_field_and_writes_nothing(
    sqlite_engine: Engine, archive: Path, tmp_path: Path, db_snapshot, file: str, old: str, new: str, error: str
) -> None:
    import_linkedin(sqlite_engine, "me", shutil.copytree(archive, tmp_path / "earlier"), "robin")  # data to keep
    edit(archive, "messages.csv", "2025-04-12 16:45:30 UTC", "2025-04-13 16:45:30 UTC")  # one new event
    before = db_snapshot(sqlite_engine)
    edit(archive, file, old, new)
    with pytest.raises(CsvImportError) as caught:
        import_linkedin(sqlite_engine, "me", archive, "robin")
    assert str(caught.value).startswith(error), str(caught.value)
    assert "MARKER" not in str(caught.value)
    assert db_snapshot(sqlite_engine) == before


def test_archive_without_connections_or_not_an_archive(sqlite_engine: Engine, archive: Path, tmp_path: Path) -> None:
    (archive / "Connections.csv").unlink()
    with pytest.raises(CsvImportError, match="Connections.csv: the archive has no Connections.csv"):
        import_linkedin(sqlite_engine, "me", archive, "robin")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CsvImportError, match="notes.txt: not a folder or ZIP file of a LinkedIn data export"):
        import_linkedin(sqlite_engine, "me", tmp_path / "notes.txt", "robin")
    assert count(sqlite_engine, Owner) == 0


def test_connections_only_archive(sqlite_engine: Engine, archive: Path) -> None:
    for file in archive.iterdir():
        if file.name != "Connections.csv":
            file.unlink()
    report = import_linkedin(sqlite_engine, "me", archive, "robin")
    assert report.owner_from == "not needed (no messages.csv)"
    assert (report.store.contacts.inserted, report.store.events.inserted) == (11, 11)


# --- the command line -----------------------------------------------------------------------


def test_cli_import_then_recommend(settings, archive: Path) -> None:
    from introrank.cli import app

    result = CliRunner().invoke(app, ["import", "--linkedin", str(archive), "--owner-id", "robin", "--tenant", "me"])
    assert result.exit_code == 0, result.output
    assert f"LinkedIn events: {EVENTS} rows read, {EVENTS} inserted" in result.output
    assert "Amara" not in result.output

    result = CliRunner().invoke(app, ["recommend", "--owner-id", "robin", "--tenant", "me", "--k", "5", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["model_version"] == "heuristic" and len(listed["recommendations"]) == 5
    assert {r["contact_id"] for r in listed["recommendations"]} <= {
        "amara-okafor-3b71a2", "bastianlindqvist", "chen-wei-88", "chen-wei-design", "dolores-ibarra", "emekanwosu",
        "freya-holm-5521", "gabriel-moreau-0f9e", "hiroshi-tanaka-a1", "ines-duarte", "marta-kowalski-pm",
        "priya-raman-talent", contact_id_of("linkedin.com/in/zoë-brandt")}


@pytest.mark.parametrize(("args", "error"), [
    (["--linkedin", "{archive}"], "--linkedin needs --owner-id"),
    (["--linkedin", "{archive}", "--owner-id", "robin", "--owners", "o.csv"], "--linkedin reads the whole archive"),
    (["--linkedin", "{archive}/nope", "--owner-id", "robin"], "nope: not a folder or ZIP file"),
])
def test_cli_import_linkedin_errors(settings, archive: Path, args: list[str], error: str) -> None:
    from introrank.cli import app

    result = CliRunner().invoke(app, ["import", *(a.format(archive=archive) for a in args)])
    assert result.exit_code == 2 and error in result.stderr, result.output


def test_readme_linkedin_commands_parse() -> None:
    """The README's three commands name options the commands have (each parsed, none run)."""
    import re
    import shlex

    import typer

    from introrank.cli import app

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own network: a LinkedIn archive in three commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert [shlex.split(line)[1] for line in lines] == ["import", "train", "recommend"]
    group = typer.main.get_command(app)
    for line in lines:
        name, *args = shlex.split(line)[1:]
        group.get_command(None, name).make_context(name, args)  # raises on an unknown option
