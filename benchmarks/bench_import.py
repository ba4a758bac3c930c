"""Benchmark ``introrank import``: ~1M valid events into a fresh SQLite (and PostgreSQL).

Plain script, not a test:  .venv/bin/python benchmarks/bench_import.py [--events N]
The CSVs are generated with numpy into a temporary folder and deleted afterwards;
the figures are appended by hand to benchmarks/README.md.

Wall time is what an operator waits; this process's CPU time is printed too
because it barely moves when other work shares the machine (for SQLite it is
nearly the whole cost; PostgreSQL's server work is not in it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from introrank.model.constants import (
    CONTACTS_CSV,
    DIRECTIONS,
    EVENT_TYPES,
    EVENTS_CSV,
    GOALS,
    OWNERS_CSV,
)
from introrank.service.store.csv_import import import_csvs, pipeline
from introrank.service.store.engine import make_engine

# The test suite's PostgreSQL server (tests/conftest.py reads the same variable).
TEST_POSTGRES_URL = os.environ.get("INTRORANK_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def write_csvs(folder: Path, n_events: int, n_owners: int, contacts_per_owner: int) -> None:
    rng = np.random.default_rng(0)
    owners = pd.DataFrame(
        {
            "owner_id": [f"o{i}" for i in range(n_owners)],
            "career_stage": rng.integers(1, 8, n_owners),
            "industry": "tech",
            "goal": rng.choice(GOALS, n_owners),
            "target_industries": "fintech;health",
            "target_companies": "Acme;Globex",
        }
    )
    owner_of = np.repeat(np.arange(n_owners), contacts_per_owner)
    contact_no = np.tile(np.arange(contacts_per_owner), n_owners)
    contacts = pd.DataFrame(
        {
            "owner_id": [f"o{i}" for i in owner_of],
            "contact_id": [f"c{i}" for i in contact_no],
            "company": [f"company{i % 500}" for i in contact_no],
            "industry": "fintech",
            "title": "Engineer",
            "career_stage": rng.integers(1, 8, len(owner_of)),
            "name": "",
            "tags": "alumni",
            "do_not_recommend": "false",
        }
    )
    pick = rng.integers(0, len(contacts), n_events)
    seconds = np.sort(rng.integers(1_700_000_000, 1_730_000_000, n_events))
    stamps = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "+00:00")
    events = pd.DataFrame(
        {
            "event_id": [f"ev{i:08d}" for i in range(n_events)],
            "owner_id": contacts["owner_id"].to_numpy()[pick],
            "contact_id": contacts["contact_id"].to_numpy()[pick],
            "occurred_at": stamps,
            "type": rng.choice(EVENT_TYPES, n_events),
            "direction": rng.choice(DIRECTIONS, n_events),
            "useful": "",
        }
    )
    owners.to_csv(folder / OWNERS_CSV, index=False)
    contacts.to_csv(folder / CONTACTS_CSV, index=False)
    events.to_csv(folder / EVENTS_CSV, index=False)


def run(label: str, engine, folder: Path) -> None:  # noqa: ANN001
    paths = {k: folder / f for k, f in
             (("owners", OWNERS_CSV), ("contacts", CONTACTS_CSV), ("events", EVENTS_CSV))}  # fmt: skip
    for attempt in ("first import", "re-import (all duplicates)"):
        started, cpu = time.perf_counter(), time.process_time()
        report = import_csvs(engine, "bench", **paths)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows = report.events.rows_read
        print(
            f"{label:8s} {attempt:26s} {rows:>9,d} events {report.events.inserted:>9,d} inserted"
            f"  wall {seconds:6.2f} s {rows / seconds:>8,.0f}/s"
            f"  this process's CPU {cpu:6.2f} s {rows / cpu:>8,.0f}/s"
        )


def postgres_engine(url: str):  # noqa: ANN201
    admin = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        print(f"postgres   skipped: unreachable ({type(exc).__name__})")
        return None, None, None
    schema = f"bench_{uuid.uuid4().hex}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return make_engine(url, schema=schema), admin, schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument("--contacts-per-owner", type=int, default=400)
    parser.add_argument("--postgres-url", default=TEST_POSTGRES_URL)
    parser.add_argument("--sqlite-only", action="store_true", help="skip the PostgreSQL runs")
    parser.add_argument(
        "--storage-only",
        action="store_true",
        help="skip the online-aggregate refresh hook: time parsing, validation and inserts alone",
    )
    args = parser.parse_args()
    if args.storage_only:
        # The benchmark's own stand-in for the refresh the pipeline calls: production has no switch for it.
        pipeline.refresh_owners = lambda conn, tenant_id, owner_ids: 0
        pipeline.fold_events = lambda conn, tenant_id, events, keep_impressions: 0
    with tempfile.TemporaryDirectory(prefix="introrank-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_csvs(folder, args.events, args.owners, args.contacts_per_owner)
        size = (folder / EVENTS_CSV).stat().st_size / 2**20
        print(f"generated {args.events:,d} events ({size:.0f} MiB), "
              f"{args.owners * args.contacts_per_owner:,d} contacts, "
              f"{args.owners} owners in {time.perf_counter() - started:.1f} s")  # fmt: skip
        sqlite = make_engine(f"sqlite:///{folder / 'bench.db'}")
        run("sqlite", sqlite, folder)
        sqlite.dispose()
        pg, admin, schema = (None, None, None) if args.sqlite_only else postgres_engine(args.postgres_url)
        if pg is not None:
            try:
                run("postgres", pg, folder)
            finally:
                pg.dispose()
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
