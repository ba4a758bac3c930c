"""Invitations.csv: a ``touch`` per invitation, and who asked whom, which is the connection's direction.

The invitation's note (``Message``) is never read into the frame. The file lists
the invitations LinkedIn still keeps (mostly recent or pending ones), so most
connections have no row here; theirs stays ``out``.
"""

from __future__ import annotations

import pandas as pd

from introrank.model.constants import IN, OUT, TOUCH
from introrank.service.store.csv_import.checks import Checks
from introrank.service.store.csv_import.linkedin.archive import Archive, read_table
from introrank.service.store.csv_import.linkedin.cells import utc_times
from introrank.service.store.csv_import.linkedin.profiles import canonical_urls, contact_id_of
from introrank.service.store.csv_import.linkedin.source import Source, events_frame

FILE = "Invitations.csv"
FROM, TO, SENT_AT, DIRECTION, INVITER, INVITEE = (
    "From", "To", "Sent At", "Direction", "inviterProfileUrl", "inviteeProfileUrl")
FORMATS = ("%m/%d/%y, %I:%M %p", "%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC")
INCOMING, OUTGOING = "incoming", "outgoing"


def read_invitations(archive: Archive) -> tuple[Source, set[str]] | None:
    """The touches (contact = the other side), and the owner's URLs the file shows (inviter of outgoing ones)."""
    frame = read_table(archive, FILE, (FROM, TO, SENT_AT, DIRECTION, INVITER, INVITEE))
    if frame is None:
        return None
    path = archive.display(FILE)
    checks = Checks(frame, path)
    checks.required(DIRECTION)
    direction = checks.choice(DIRECTION, (INCOMING, OUTGOING), "direction")
    when = utc_times(checks, SENT_AT, FORMATS, "12/3/24, 10:15 AM")
    inviter, invitee = canonical_urls(checks, INVITER), canonical_urls(checks, INVITEE)
    checks.raise_first()
    incoming = direction == INCOMING
    other = inviter.where(incoming, invitee)
    owner = set(invitee[incoming]) | set(inviter[~incoming])
    missing = other == ""
    ids = other[~missing].map(contact_id_of)
    names = frame[FROM].where(incoming, frame[TO])[~missing]
    arrow = pd.Series(OUT, index=ids.index).where(~incoming[~missing], IN)
    events = events_frame(ids.index, contact_id=ids, name=names, occurred_at=when[~missing], type=TOUCH,
                          direction=arrow, key=ids + "\x1f" + frame[SENT_AT][~missing] + "\x1f" + arrow)
    source = Source(path, "inv", len(frame), events)
    if missing.any():
        source.skipped["no profile URL of the other side"] = int(missing.sum())
    return source, owner - {""}
