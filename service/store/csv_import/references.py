"""Every contact's owner and every event's contact must exist: in this import or already stored.

Checked against the database inside the import's transaction, after the
files before it are written, so the files may arrive together or one by one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, select

from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.service.store.csv_import.checks import Checks
from introrank.service.store.csv_import.upsert import CONTACTS, OWNERS, in_chunks


def check_owners_known(conn: Connection, tenant_id: int, tenant: str, rows: pd.DataFrame, path: Path) -> None:
    table = OWNERS
    known: set[str] = set()
    for chunk in in_chunks(rows[OWNER_ID].unique().tolist()):
        query = select(table.c.owner_id).where(table.c.tenant_id == tenant_id, table.c.owner_id.in_(chunk))
        known.update(conn.scalars(query))
    checks = Checks(rows, Path(path))
    checks.flag(
        ~rows[OWNER_ID].isin(known),
        OWNER_ID,
        f"unknown owner '{{value}}': not in this import's owners file nor stored for tenant '{tenant}'",
    )
    checks.raise_first()


def check_contacts_known(conn: Connection, tenant_id: int, tenant: str, rows: pd.DataFrame, path: Path) -> None:
    table = CONTACTS
    known: set[str] = set()
    for chunk in in_chunks(rows[OWNER_ID].unique().tolist()):
        query = select(table.c.owner_id, table.c.contact_id).where(
            table.c.tenant_id == tenant_id, table.c.owner_id.in_(chunk)
        )
        known.update(f"{o}\x1f{c}" for o, c in conn.execute(query))
    pairs = rows[OWNER_ID].astype(str) + "\x1f" + rows[CONTACT_ID].astype(str)
    checks = Checks(rows, Path(path))
    checks.flag(
        ~pairs.isin(known),
        CONTACT_ID,
        lambda row: (
            f"unknown contact '{row[CONTACT_ID]}' of owner '{row[OWNER_ID]}': not in "
            f"this import's contacts file nor stored for tenant '{tenant}'"
        ),
    )
    checks.raise_first()
