"""import_linkedin: read every file of the archive, tell the owner's own messages apart, write in one transaction."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from introrank.model.constants import CONTACT_ID, DIRECTION, IN, JOB_SEARCH, NAME, OUT
from introrank.model.grammar import id_problem
from introrank.service.store.csv_import.checks import CsvImportError
from introrank.service.store.csv_import.linkedin.archive import Archive
from introrank.service.store.csv_import.linkedin.connections import read_connections
from introrank.service.store.csv_import.linkedin.invitations import read_invitations
from introrank.service.store.csv_import.linkedin.messages import Messages, message_events, participants, read_messages
from introrank.service.store.csv_import.linkedin.profiles import canonical_url, contact_id_of, detect_owner
from introrank.service.store.csv_import.linkedin.report import LinkedInReport, SourceReport
from introrank.service.store.csv_import.linkedin.rows import validated_contacts, validated_events, validated_owner
from introrank.service.store.csv_import.linkedin.source import Source
from introrank.service.store.csv_import.linkedin.vouches import name_key, read_endorsements, read_recommendations
from introrank.service.store.csv_import.pipeline import write_validated


def import_linkedin(engine: Engine, tenant: str, archive_path: Path, owner_id: str, owner_url: str | None = None,
                    goal: str = JOB_SEARCH, career_stage: int | None = None,
                    industry: str | None = None) -> LinkedInReport:
    """Import one person's LinkedIn archive (a folder or the ZIP) as owner ``owner_id``, all or nothing.

    ``owner_url``: the owner's own profile URL, which tells their messages from the
    ones they received; without it, Invitations.csv or messages.csv must show it.
    """
    started = time.perf_counter()
    if problem := id_problem(owner_id):
        raise CsvImportError(Path("--owner-id"), 0, "owner_id", problem)
    archive = Archive.open(archive_path)
    connection_source, people = read_connections(archive)
    invitations = read_invitations(archive)
    messages = read_messages(archive)
    owner, owner_from = _owner_url(owner_url, invitations, messages, set(people["url"]))
    sources = [connection_source]
    if invitations is not None:
        _direct_connections(connection_source, invitations[0])
        sources.append(invitations[0])
    if messages is not None:
        if owner is None:
            raise CsvImportError(messages.source.path, 0, "", "cannot tell which messages you sent: give "
                                 "--owner-url with your own profile URL (https://www.linkedin.com/in/...)")
        sources.append(message_events(messages, owner))
    by_name = _unique_names(people)
    for given in (True, False):
        sources += [s for s in (read_endorsements(archive, given), read_recommendations(archive, given, by_name))
                    if s is not None]
    if owner is not None:  # the owner never becomes their own contact
        for source in sources:
            source.events = source.events[source.events[CONTACT_ID] != contact_id_of(owner)]
    report = write_validated(engine, tenant, validated_owner(owner_id, goal, career_stage, industry),
                             validated_contacts(owner_id, people, sources), validated_events(owner_id, sources),
                             started)
    return LinkedInReport(archive.path.name, owner_from, report, [SourceReport.of(s) for s in sources])


def _owner_url(given: str | None, invitations: tuple[Source, set[str]] | None, messages: Messages | None,
               connections: set[str]) -> tuple[str | None, str]:
    """The owner's canonical URL and where it came from: the option, Invitations.csv, or messages.csv."""
    if given is not None:
        canonical = canonical_url(given)
        if canonical is None:
            raise CsvImportError(Path("--owner-url"), 0, "owner_url", f"'{given}' is not a LinkedIn profile URL")
        return canonical, "--owner-url"
    if invitations is not None and len(invitations[1]) == 1:
        return next(iter(invitations[1])), "your profile URL in Invitations.csv"
    if messages is not None:
        found = detect_owner(participants(messages), connections)
        return found, "the one person in every conversation of messages.csv"
    return None, "not needed (no messages.csv)"


def _direct_connections(connections: Source, invitations: Source) -> None:
    """A connection is ``in`` when the contact's invitation is in the file as incoming, else ``out``."""
    invited = invitations.events.groupby(CONTACT_ID)[DIRECTION].last()
    direction = connections.events[CONTACT_ID].map(invited).fillna(OUT)
    connections.events = connections.events.assign(**{DIRECTION: direction.where(direction == IN, OUT)})


def _unique_names(people: pd.DataFrame) -> dict[str, str | None]:
    """Connection full name (case and spaces ignored) -> contact_id, None when several share it."""
    keys = name_key(people[NAME])
    counts = keys.value_counts()
    return {k: (c if counts[k] == 1 else None) for k, c in zip(keys, people[CONTACT_ID], strict=True) if k}
