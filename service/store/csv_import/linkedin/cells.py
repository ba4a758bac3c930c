"""Checks on the archive's own cells, so a bad one is named by LinkedIn's file, line and column.

Dates in the formats each file writes, read as UTC (messages and endorsements
say UTC; invitations and recommendations say nothing, and UTC is off by hours at
most), within the event-time grammar; texts within the text grammar.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd

from introrank.model.grammar import occurred_at_problem, text_problem
from introrank.service.store.csv_import.checks import Checks
from introrank.service.store.csv_import.mappings.apply import to_utc_iso

_UTC = ZoneInfo("UTC")
_EPOCH = pd.Timestamp(0, tz="UTC")


def utc_times(checks: Checks, column: str, formats: tuple[str, ...], example: str) -> pd.Series:
    """ISO 8601 UTC strings of a required date column; unreadable, empty or impossible dates are flagged."""
    checks.required(column)
    cells = checks.frame[column]
    iso = to_utc_iso(cells, formats, _UTC, checks, f"is not a date like '{example}'", column)
    parsed = pd.to_datetime(iso.where(cells != ""), utc=True, format="ISO8601", errors="coerce")
    seconds = (parsed - _EPOCH).dt.total_seconds()
    impossible = seconds.map(lambda t: not pd.isna(t) and occurred_at_problem(t) is not None).astype(bool)
    checks.flag(impossible, column, "date '{value}' lies before 1970 or more than a day from now")
    return iso


def check_texts(checks: Checks, values: pd.Series, column: str) -> None:
    """Company, title and name follow the text grammar (at most 200 characters, no control characters)."""
    problems = {v: text_problem(v) for v in values.unique()}
    bad = values.map(lambda v: problems[v] is not None)
    checks.flag(bad, column, lambda row: f"text breaks the rule: {problems[values[row.name]]}")
