"""Connections.csv: the owner's network (name, company, position) and each tie's first event, the connection."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from introrank.model.constants import COMPANY, CONTACT_ID, NAME, OUT, TITLE, TOUCH
from introrank.service.store.csv_import.checks import Checks, CsvImportError
from introrank.service.store.csv_import.linkedin.archive import Archive, read_table
from introrank.service.store.csv_import.linkedin.cells import check_texts, utc_times
from introrank.service.store.csv_import.linkedin.profiles import canonical_urls, contact_id_of
from introrank.service.store.csv_import.linkedin.source import Source, events_frame

FILE = "Connections.csv"
FIRST, LAST, URL, COMPANY_COLUMN, POSITION, CONNECTED_ON = (
    "First Name", "Last Name", "URL", "Company", "Position", "Connected On")
REQUIRED = (FIRST, LAST, URL, COMPANY_COLUMN, POSITION, CONNECTED_ON)
FORMATS = ("%d %b %Y", "%d %B %Y", "%Y-%m-%d")


def read_connections(archive: Archive) -> tuple[Source, pd.DataFrame]:
    """The connection events (a ``touch``, ``out`` until Invitations.csv says who asked) and the people.

    People: ``contact_id``, canonical ``url``, ``name``, ``company``, ``title``. A row
    without a URL (LinkedIn writes those for members who closed their account or
    hide their profile) is skipped and counted; a URL that is not LinkedIn's is an error.
    """
    frame = read_table(archive, FILE, REQUIRED, first=FIRST)
    if frame is None:
        raise CsvImportError(archive.path / FILE, 0, "", "the archive has no Connections.csv: give the folder "
                             "or ZIP of LinkedIn's 'Get a copy of your data' (with Connections selected)")
    path = archive.display(FILE)
    rows_read = len(frame)
    closed = frame[URL] == ""
    frame = frame[~closed]
    checks = Checks(frame, path)
    urls = canonical_urls(checks, URL)
    when = utc_times(checks, CONNECTED_ON, FORMATS, "03 Dec 2024")
    names = (frame[FIRST] + " " + frame[LAST]).str.strip()
    for values, column in ((names, FIRST), (frame[COMPANY_COLUMN], COMPANY_COLUMN), (frame[POSITION], POSITION)):
        check_texts(checks, values, column)
    checks.raise_first()
    ids = urls.map(lambda u: contact_id_of(u) if u else "")
    people = pd.DataFrame({CONTACT_ID: ids, "url": urls, NAME: names, COMPANY: frame[COMPANY_COLUMN],
                           TITLE: frame[POSITION]}, index=frame.index)
    events = events_frame(frame.index, contact_id=ids, name=names, occurred_at=when, type=TOUCH, direction=OUT,
                          key="connected\x1f" + ids + "\x1f" + frame[CONNECTED_ON])
    skipped = Counter({"no profile URL (closed or hidden account)": int(closed.sum())} if closed.any() else {})
    return Source(path, "conn", rows_read, events, skipped), people.drop_duplicates(CONTACT_ID)
