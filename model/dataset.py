"""A network as three frames (owners, contacts, events): what training reads, wherever it came from.

Here, below both, so the store (which loads one from the database) and training
(which also reads one from a folder of CSVs) share the type without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Dataset:
    owners: pd.DataFrame
    contacts: pd.DataFrame
    events: pd.DataFrame  # occurred_at as UTC epoch seconds
    oracle: pd.DataFrame | None = None  # owner_id, contact_id, cut (epoch s), probability

    def describe(self) -> dict[str, int]:
        return {"owners": len(self.owners), "contacts": len(self.contacts), "events": len(self.events)}
