"""Endorsements and recommendations: given ones are the owner's ``give``, received ones an ``in`` touch.

Skill names count only in what makes an endorsement itself (the event id), and a
recommendation's text is never read into the frame. Recommendation files carry no
profile URL, so a recommendation is matched to a connection by full name, and
only when exactly one connection has that name; the rest are skipped and counted.
Every status counts (a hidden or pending endorsement still happened).
"""

from __future__ import annotations

import pandas as pd

from introrank.model.constants import GIVE, IN, OUT, TOUCH
from introrank.service.store.csv_import.checks import Checks
from introrank.service.store.csv_import.linkedin.archive import Archive, read_table
from introrank.service.store.csv_import.linkedin.cells import utc_times
from introrank.service.store.csv_import.linkedin.profiles import canonical_urls, contact_id_of
from introrank.service.store.csv_import.linkedin.source import Source, events_frame

ENDORSEMENTS = {True: ("Endorsement_Given_Info.csv", "Endorsee"), False: ("Endorsement_Received_Info.csv", "Endorser")}
RECOMMENDATIONS = {True: "Recommendations_Given.csv", False: "Recommendations_Received.csv"}
ENDORSED_AT, SKILL = "Endorsement Date", "Skill Name"
FIRST, LAST, CREATED = "First Name", "Last Name", "Creation Date"
ENDORSEMENT_FORMATS = ("%Y/%m/%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S UTC")
RECOMMENDATION_FORMATS = ("%m/%d/%y, %I:%M %p", "%m/%d/%Y", "%Y-%m-%d")


def name_key(name: pd.Series) -> pd.Series:
    return name.str.lower().str.split().str.join(" ")


def _kind(given: bool) -> tuple[str, str]:
    return (GIVE, OUT) if given else (TOUCH, IN)


def read_endorsements(archive: Archive, given: bool) -> Source | None:
    file, person = ENDORSEMENTS[given]
    url_column = f"{person} Public Url"
    frame = read_table(archive, file, (ENDORSED_AT, f"{person} First Name", f"{person} Last Name", url_column),
                       optional=(SKILL,))
    if frame is None:
        return None
    path = archive.display(file)
    checks = Checks(frame, path)
    when = utc_times(checks, ENDORSED_AT, ENDORSEMENT_FORMATS, "2024/12/03 10:15:00 UTC")
    urls = canonical_urls(checks, url_column)
    checks.raise_first()
    found = urls != ""
    ids = urls[found].map(contact_id_of)
    names = (frame[f"{person} First Name"] + " " + frame[f"{person} Last Name"]).str.strip()[found]
    skill = frame[SKILL][found] if SKILL in frame.columns else ""
    event_type, direction = _kind(given)
    events = events_frame(ids.index, contact_id=ids, name=names, occurred_at=when[found], type=event_type,
                          direction=direction, key=f"{given}\x1f" + ids + "\x1f" + skill + "\x1f" + when[found])
    source = Source(path, "end", len(frame), events)
    if not found.all():
        source.skipped["no profile URL"] = int((~found).sum())
    return source


def read_recommendations(archive: Archive, given: bool, by_name: dict[str, str | None]) -> Source | None:
    """``by_name``: connection name key -> contact_id, or None when several connections share the name."""
    file = RECOMMENDATIONS[given]
    frame = read_table(archive, file, (FIRST, LAST, CREATED))
    if frame is None:
        return None
    path = archive.display(file)
    checks = Checks(frame, path)
    when = utc_times(checks, CREATED, RECOMMENDATION_FORMATS, "12/3/24, 10:15 AM")
    checks.raise_first()
    ids = name_key(frame[FIRST] + " " + frame[LAST]).map(lambda k: by_name.get(k) or "")
    found = ids != ""
    event_type, direction = _kind(given)
    events = events_frame(ids[found].index, contact_id=ids[found], occurred_at=when[found], type=event_type,
                          direction=direction, key=f"{given}\x1f" + ids[found] + "\x1f" + when[found])
    source = Source(path, "rec", len(frame), events)
    if not found.all():
        source.skipped["not matched to exactly one connection by name"] = int((~found).sum())
    return source
