"""messages.csv: one ``message`` event per message and counterpart, ``out`` when the owner sent it.

Only who, when and which conversation are read: CONTENT, SUBJECT and the
attachments are not even kept in the frame (``read_table`` drops them), so no
message text can reach the store or a log. A message the owner sent counts once
for each recipient; one they received counts for its sender only (the other
people in a group thread did not write to them). Drafts (``IS MESSAGE DRAFT``)
and the SPAM folder are skipped, and so are messages without the sender's
profile URL (sponsored InMail, deleted members), each counted in the report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from introrank.model.constants import IN, MESSAGE, OUT
from introrank.service.store.csv_import.checks import Checks
from introrank.service.store.csv_import.linkedin.archive import Archive, read_table
from introrank.service.store.csv_import.linkedin.cells import utc_times
from introrank.service.store.csv_import.linkedin.profiles import canonical_url, canonical_urls, contact_id_of
from introrank.service.store.csv_import.linkedin.source import EVENT_FIELDS, Source, events_frame

FILE = "messages.csv"
CONVERSATION, FROM, SENDER, TO, RECIPIENTS, DATE = (
    "CONVERSATION ID", "FROM", "SENDER PROFILE URL", "TO", "RECIPIENT PROFILE URLS", "DATE")
FOLDER, DRAFT = "FOLDER", "IS MESSAGE DRAFT"
FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC")
_SPLIT = re.compile(r"\s*[;,]\s*")


@dataclass
class Messages:
    """The file's rows with canonical URLs: ``sender`` (str) and ``recipients`` (list of str) per line."""

    source: Source  # its events are filled in by ``message_events`` once the owner is known
    rows: pd.DataFrame


def read_messages(archive: Archive) -> Messages | None:
    frame = read_table(archive, FILE, (CONVERSATION, FROM, SENDER, TO, RECIPIENTS, DATE), optional=(FOLDER, DRAFT))
    if frame is None:
        return None
    path, rows_read = archive.display(FILE), len(frame)
    skipped: Counter[str] = Counter()
    unsent = pd.Series(False, index=frame.index)
    if DRAFT in frame.columns:
        unsent |= frame[DRAFT].str.lower().isin(("true", "yes", "1"))
        skipped["draft"] = int(unsent.sum())
    if FOLDER in frame.columns:
        spam = frame[FOLDER].str.lower().eq("spam") & ~unsent
        skipped["spam folder"] = int(spam.sum())
        unsent |= spam
    frame = frame[~unsent]
    checks = Checks(frame, path)
    checks.required(CONVERSATION)
    when = utc_times(checks, DATE, FORMATS, "2024-12-03 10:15:00 UTC")
    sender = canonical_urls(checks, SENDER)
    recipients = _recipient_urls(checks)
    checks.raise_first()
    rows = pd.DataFrame({"conversation": frame[CONVERSATION], "occurred_at": when, "date": frame[DATE],
                         "sender": sender, "recipients": recipients, "from_name": frame[FROM], "to_name": frame[TO]},
                        index=frame.index)
    return Messages(Source(path, "msg", rows_read, events_frame(pd.Index([], name="line")), +skipped), rows)


def _recipient_urls(checks: Checks) -> pd.Series:
    """Each row's recipients, canonical; a part that is not a LinkedIn URL is flagged."""
    cells = checks.frame[RECIPIENTS]
    parts = cells.map(lambda c: [p for p in _SPLIT.split(c) if p])
    canonical = parts.map(lambda ps: [canonical_url(p) for p in ps])
    bad = canonical.map(lambda cs: any(c is None for c in cs))
    checks.flag(bad, RECIPIENTS, "'{value}' holds something that is not a LinkedIn profile URL")
    return canonical.map(lambda cs: [c for c in cs if c])


def participants(messages: Messages) -> list[tuple[str, set[str]]]:
    """Per conversation, every canonical URL in it (for finding the owner)."""
    people: dict[str, set[str]] = {}
    for conversation, sender, recipients in messages.rows[["conversation", "sender", "recipients"]].itertuples(
            index=False):
        people.setdefault(conversation, set()).update([sender, *recipients])
    return list(people.items())


def message_events(messages: Messages, owner_url: str) -> Source:
    """The events, now that the owner's URL tells sent from received."""
    lines, records, skipped = [], [], Counter(messages.source.skipped)
    for line, row in zip(messages.rows.index, messages.rows.itertuples(index=False), strict=True):
        same = f"{row.conversation}\x1f{row.date}\x1f{row.sender}\x1f"
        if row.sender == owner_url:
            others = [r for r in row.recipients if r != owner_url]
            if not others:
                skipped["sent, without a recipient's profile URL"] += 1
            name = row.to_name if len(others) == 1 else ""
            for url in others:
                contact = contact_id_of(url)
                lines.append(line)
                records.append((contact, name, row.occurred_at, MESSAGE, OUT, same + contact))
        elif row.sender:
            contact = contact_id_of(row.sender)
            lines.append(line)
            records.append((contact, row.from_name, row.occurred_at, MESSAGE, IN, same + contact))
        else:
            skipped["received, without the sender's profile URL (sponsored or deleted member)"] += 1
    events = pd.DataFrame(records, index=pd.Index(lines, name="line"), columns=list(EVENT_FIELDS))
    return Source(messages.source.path, "msg", messages.source.rows_read, events, +skipped)
