"""import_csvs: read, map and validate every given file; write_validated: write them all in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine

from introrank.model.constants import OWNER_ID
from introrank.service.store.aggregates import fold_events, refresh_owners
from introrank.service.store.concurrency import lock_owners, run_write
from introrank.service.store.csv_import.bulk_events import write_events
from introrank.service.store.csv_import.mappings import load_mapping
from introrank.service.store.csv_import.read import read_contacts, read_events, read_owners
from introrank.service.store.csv_import.references import check_contacts_known, check_owners_known
from introrank.service.store.csv_import.report import ImportReport
from introrank.service.store.csv_import.upsert import write_contacts, write_owners
from introrank.service.store.csv_import.validate import validate_contacts, validate_events, validate_owners
from introrank.service.store.engine import get_or_create_tenant
from introrank.service.store.impressions import answer_received
from introrank.service.store.writes import bump_profile_revision


@dataclass(frozen=True)
class ValidatedFile:
    """One file's validated rows and the path its errors and its report line name."""

    rows: pd.DataFrame
    path: Path


def import_csvs(
    engine: Engine,
    tenant: str,
    owners: Path | None = None,
    contacts: Path | None = None,
    events: Path | None = None,
    mapping: Path | str | None = None,
) -> ImportReport:
    """Validate every given file, then write them all in one transaction.

    ``mapping``: a shipped mapping name (``hubspot``) or a TOML path, for a foreign CRM's export.
    """
    started = time.perf_counter()
    spec = load_mapping(mapping) if mapping is not None else None
    owner_rows = ValidatedFile(validate_owners(read_owners(owners, spec), owners), owners) if owners else None
    contact_rows = (ValidatedFile(validate_contacts(read_contacts(contacts, spec), contacts), contacts)
                    if contacts else None)
    event_rows = ValidatedFile(validate_events(read_events(events, spec), events), events) if events else None
    return write_validated(engine, tenant, owner_rows, contact_rows, event_rows, started)


def write_validated(
    engine: Engine,
    tenant: str,
    owners: ValidatedFile | None = None,
    contacts: ValidatedFile | None = None,
    events: ValidatedFile | None = None,
    started: float | None = None,
) -> ImportReport:
    """Write validated rows (``validate_*``'s frames) in one transaction: every importer ends here.

    The CSV files and the LinkedIn archive reader (``csv_import.linkedin``) share it, so
    their references checks, upserts, duplicate counting, aggregates and report are one code.
    """
    started = time.perf_counter() if started is None else started

    def write(conn: Connection) -> ImportReport:
        report = ImportReport(tenant=tenant)
        tenant_id = get_or_create_tenant(conn, tenant)
        frames = [f.rows for f in (owners, contacts, events) if f is not None]
        # Every stored owner the files touch, locked first and in order: the import's upserts
        # then never wait on an events batch that waits on the import.
        lock_owners(conn, tenant_id, {o for f in frames for o in f[OWNER_ID].unique().tolist()})
        if owners is not None:
            report.owners = write_owners(conn, tenant_id, owners.rows, owners.path)
            if report.owners.updated:
                bump_profile_revision(conn, tenant_id, sorted(owners.rows[OWNER_ID].unique()))
        if contacts is not None:
            check_owners_known(conn, tenant_id, tenant, contacts.rows, contacts.path)
            report.contacts = write_contacts(conn, tenant_id, contacts.rows, contacts.path)
            if report.contacts.inserted or report.contacts.updated:  # profile caches must notice
                bump_profile_revision(conn, tenant_id, sorted(contacts.rows[OWNER_ID].unique()))
        if events is not None:
            check_contacts_known(conn, tenant_id, tenant, events.rows, events.path)
            received_at = time.time()
            report.events = write_events(conn, tenant_id, events.rows, events.path, received_at)
            if report.events.inserted:  # a re-import inserts nothing and must change nothing
                # Online aggregates, in the same transaction: a failure rolls the import back.
                touched = sorted(events.rows[OWNER_ID].unique())
                if report.events.duplicates == 0:
                    # Every row of the file went in: fold them (in memory) into the stored
                    # states, exact in any file order, instead of reading all of the owners'
                    # events back.
                    fold_events(conn, tenant_id, events.rows, keep_impressions=True)
                else:  # which rows went in is the store's to say: recompute from all events
                    refresh_owners(conn, tenant_id, touched)
                answer_received(conn, tenant_id, touched, received_at)
        return report

    report = run_write(engine, write, bulk=True)  # one transaction, re-run whole on a deadlock
    report.seconds = time.perf_counter() - started
    return report
