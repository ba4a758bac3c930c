"""Where training data comes from: a folder of CRM-format CSVs or the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from introrank.model.constants import (
    CONTACT_ID,
    CONTACTS_CSV,
    EVENTS_CSV,
    ORACLE_CSV,
    OWNER_ID,
    OWNERS_CSV,
)
from introrank.model.dataset import Dataset
from introrank.model.events import to_epoch_seconds


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_csv_dir(folder: Path) -> Dataset:
    """Read owners/contacts/events (and oracle.csv when the simulator wrote one)."""
    missing = [n for n in (OWNERS_CSV, CONTACTS_CSV, EVENTS_CSV) if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}")
    events = _read(folder / EVENTS_CSV)
    events["occurred_at"] = to_epoch_seconds(events["occurred_at"])
    oracle = load_oracle(folder / ORACLE_CSV) if (folder / ORACLE_CSV).exists() else None
    return Dataset(_read(folder / OWNERS_CSV), _read(folder / CONTACTS_CSV), events, oracle)


def load_oracle(path: Path) -> pd.DataFrame:
    oracle = pd.read_csv(path, dtype={OWNER_ID: str, CONTACT_ID: str})
    oracle["cut"] = to_epoch_seconds(oracle["cut"])
    return oracle
