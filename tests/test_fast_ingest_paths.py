"""The import's and the events endpoint's fast paths, held equal to the code they replace."""

from __future__ import annotations

import re
import sqlite3

import pandas as pd
import pytest

from introrank.service.store.csv_import.checks import FAR_YEAR
from introrank.service.store.multirow_insert import ROWS_PER_STATEMENT, insert_columns


def _far_by_extract(text: pd.Series) -> pd.Series:
    """The check FAR_YEAR replaced: the leading run of 4+ digits, parsed, after 2200."""
    year = pd.to_numeric(text.astype(object).str.extract(r"^\s*(\d{4,})", expand=False), errors="coerce")
    return year > 2200


def test_far_year_regex_equals_extract_and_compare() -> None:
    cells = ["", "2025-01-01T10:00:00+00:00", "2200-12-31T00:00:00Z", "2201-01-01T00:00:00Z",
             "2262-04-12", "2300", "9999-01-01", "10000-01-01", "99999999999999999999999", "02201-01-01",
             "0002200", "00003000", "300", "0300", "2199", "2200", "2201", "22015", " 3000-01-01", "  2025",
             "x3000", "-3000", "3000abc", "3000.5", "1e10", "2210-13-45", "٢٣٠٠", "12", "1999-12-31"]
    cells += [f"{year:04d}-06-01T00:00:00Z" for year in range(2190, 2320)]
    cells += [f"{'0' * zeros}{year}" for zeros in range(3) for year in (2200, 2201, 2999, 3000, 10_000)]
    text = pd.Series(cells, dtype="str")
    fast = text.str.match(FAR_YEAR, na=False)
    assert fast.tolist() == _far_by_extract(text).tolist()
    assert fast.astype(object).tolist() == [bool(re.match(FAR_YEAR, c)) for c in cells]  # as Python reads it too


def _table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (tenant_id INTEGER, received_at REAL, k TEXT, v REAL, flag BOOLEAN, "
                 "UNIQUE (tenant_id, k))")


@pytest.mark.parametrize("n", [0, 1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 2 * ROWS_PER_STATEMENT + 7])
def test_multirow_insert_equals_executemany(n: int) -> None:
    keys = [f"k{i % max(n - 3, 1)}" for i in range(n)]  # repeats: the conflict clause skips them
    values = [i / 7 for i in range(n)]
    flags = [None if i % 3 == 0 else bool(i % 2) for i in range(n)]
    fast, slow = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    _table(fast), _table(slow)
    inserted = insert_columns(fast.cursor(), "t", {"tenant_id": 3, "received_at": 1.25},
                              {"k": keys, "v": values, "flag": flags}, "ON CONFLICT (tenant_id, k) DO NOTHING")
    cursor = slow.cursor()
    cursor.executemany("INSERT INTO t VALUES (3, 1.25, ?, ?, ?) ON CONFLICT (tenant_id, k) DO NOTHING",
                       list(zip(keys, values, flags, strict=True)))
    query = "SELECT rowid, tenant_id, received_at, k, v, flag FROM t ORDER BY rowid"
    assert fast.execute(query).fetchall() == slow.execute(query).fetchall()
    assert inserted == slow.execute("SELECT count(*) FROM t").fetchone()[0] == len(set(keys))
