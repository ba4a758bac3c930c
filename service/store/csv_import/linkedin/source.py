"""What one archive file gives the import: its events (and people), and counts of the rows it skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from introrank.model.constants import CONTACT_ID, DIRECTION, NAME, OCCURRED_AT, TYPE

KEY = "key"  # what makes an event itself in its file: hashed into a stable event_id, never stored
EVENT_FIELDS = (CONTACT_ID, NAME, OCCURRED_AT, TYPE, DIRECTION, KEY)


@dataclass
class Source:
    """One file's contribution, index = its line numbers (so later checks still name its lines).

    ``events``: ``EVENT_FIELDS`` columns, ``occurred_at`` as ISO 8601 UTC text and ``name``
    the counterpart's display name or "" (for contacts not in Connections.csv).
    ``skipped``: reason -> rows, counts only, for the report.
    """

    path: Path
    kind: str  # short name hashed into event ids: conn, msg, inv, end, rec
    rows_read: int
    events: pd.DataFrame
    skipped: Counter[str] = field(default_factory=Counter)


def events_frame(index: pd.Index, **columns: object) -> pd.DataFrame:
    """An events frame with every ``EVENT_FIELDS`` column, in order ("" for those not given)."""
    return pd.DataFrame({c: columns.get(c, "") for c in EVENT_FIELDS}, index=index)
