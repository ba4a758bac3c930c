"""The archive's sources -> the validated owner, contact and event rows the CSV import writes.

Rows go through the CSV import's own ``validate_*`` functions, so a LinkedIn
import stores exactly what an equivalent ``owners.csv``/``contacts.csv``/``events.csv``
would. Event ids are a hash of the owner, the file kind, what makes the event
itself in its file (conversation, time, sender and counterpart for a message)
and its rank among identical ones, so re-importing the same or a later archive
gives duplicates, not doubles; the owner is in the hash because two owners of one
tenant see the same message in their two archives.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from introrank.model.constants import (
    CAREER_STAGE,
    COMPANY,
    CONTACT_ID,
    DIRECTION,
    EVENT_ID,
    GOAL,
    INDUSTRY,
    NAME,
    OCCURRED_AT,
    OWNER_ID,
    TITLE,
    TYPE,
)
from introrank.service.store.csv_import.linkedin.source import KEY, Source
from introrank.service.store.csv_import.pipeline import ValidatedFile
from introrank.service.store.csv_import.validate import validate_contacts, validate_events, validate_owners

EVENTS_LABEL, CONTACTS_LABEL, OWNER_LABEL = Path("LinkedIn events"), Path("LinkedIn contacts"), Path("--owner-id")


def event_ids(owner_id: str, source: Source) -> pd.Series:
    """Stable ids: ``li:<kind>:`` and 24 hex digits of a hash; the nth identical event gets the nth id."""
    keys = source.events[KEY]
    rank = keys.groupby(keys).cumcount().astype(str)
    text = f"{owner_id}\x1f{source.kind}\x1f" + keys + "\x1f" + rank
    return text.map(lambda t: f"li:{source.kind}:{hashlib.sha256(t.encode()).hexdigest()[:24]}")


def validated_events(owner_id: str, sources: list[Source]) -> ValidatedFile:
    frames = []
    for source in sources:
        raw = source.events.assign(**{EVENT_ID: event_ids(owner_id, source), OWNER_ID: owner_id})
        columns = [EVENT_ID, OWNER_ID, CONTACT_ID, OCCURRED_AT, TYPE, DIRECTION]
        frames.append(validate_events(raw[columns].astype(str), source.path))
    return ValidatedFile(pd.concat(frames, ignore_index=True), EVENTS_LABEL)


def validated_contacts(owner_id: str, people: pd.DataFrame, sources: list[Source]) -> ValidatedFile:
    """Connections with company and title, then everyone else the owner dealt with, named from the files.

    LinkedIn has no industry or career stage, so those columns are left out: values a
    CRM or the API stored stay (a title-derived stage can fill the gap).
    """
    seen = pd.concat([s.events[[CONTACT_ID, NAME]] for s in sources], ignore_index=True)
    seen = seen[~seen[CONTACT_ID].isin(people[CONTACT_ID])]
    others = seen.sort_values(NAME, key=lambda n: n == "", kind="stable").drop_duplicates(CONTACT_ID)
    rows = pd.concat([people[[CONTACT_ID, NAME, COMPANY, TITLE]], others], ignore_index=True).fillna("")
    rows.index = pd.RangeIndex(1, len(rows) + 1, name="line")
    rows[OWNER_ID], rows[INDUSTRY], rows[CAREER_STAGE] = owner_id, "", ""
    frame = validate_contacts(rows, CONTACTS_LABEL)
    return ValidatedFile(frame.drop(columns=[INDUSTRY, CAREER_STAGE]), CONTACTS_LABEL)


def validated_owner(owner_id: str, goal: str, career_stage: int | None, industry: str | None) -> ValidatedFile:
    """The owner from the command line; a profile value not given is left as stored."""
    raw = pd.DataFrame({OWNER_ID: [owner_id], CAREER_STAGE: ["" if career_stage is None else str(career_stage)],
                        INDUSTRY: [industry or ""], GOAL: [goal]}, index=pd.RangeIndex(0, 1, name="line"))
    frame = validate_owners(raw, OWNER_LABEL)
    absent = [c for c, v in ((CAREER_STAGE, career_stage), (INDUSTRY, industry)) if v is None]
    return ValidatedFile(frame.drop(columns=absent), OWNER_LABEL)
