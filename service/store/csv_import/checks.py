"""Bad rows as errors an operator can act on: the error type, and the vectorised checks that raise it.

Shared by every step that can reject a row (reading, mapping, validation, the
referential checks), so each names the file, line and field the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from introrank.model.grammar import (
    EARLIEST_EVENT,
    ID_PATTERN,
    MAX_LIST_ITEMS,
    MAX_TEXT_LENGTH,
    id_problem,
    latest_event_time,
    text_problem,
)

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_AWARE = r"\d(?:[zZ]|[+-]\d\d:?\d\d)$"  # a UTC offset right after the time
_INTEGER = r"[+-]?\d+(?:\.0*)?"  # "3" and "3.0" (spreadsheets) are integers
_EPOCH = pd.Timestamp(0, tz="UTC")
# A leading year of 4+ digits after 2200 (leading zeros allowed), as one regex: pandas runs it in
# pyarrow's C++ regex engine, where extracting the digits and parsing them took ~1.5 s per
# million rows in Python. tests/test_csv_import.py holds it equal to that extract-and-compare.
FAR_YEAR = r"\s*0*(?:[1-9][0-9]{4,}|22(?:0[1-9]|[1-9][0-9])|2[3-9][0-9][0-9]|[3-9][0-9]{3})(?:[^0-9]|$)"
_BAD_TEXT = r"[\x00-\x1f\x7f\ud800-\udfff]"
_SHOWN = 60  # characters of a refused cell quoted back


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _refused_id(column: str, row: pd.Series) -> str:
    return f"id {_quoted(row[column])}: {id_problem(row[column])}"


def _refused_text(column: str, row: pd.Series) -> str:
    return f"{_quoted(row[column])}: {text_problem(row[column])}"


class CsvImportError(ValueError):
    """A bad input row: which file, which line (header = 1), which field, and why."""

    def __init__(self, path: Path | str, line: int, field: str, message: str) -> None:
        self.path, self.line, self.field, self.message = Path(path), line, field, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path.name} line {self.line}" if self.line else self.path.name
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class Checks:
    """Collects the first bad line per check; raises the earliest of them."""

    def __init__(self, frame: pd.DataFrame, path: Path) -> None:
        self.frame, self.path = frame, path
        self.errors: list[CsvImportError] = []

    def flag(self, bad: pd.Series, column: str, message: str | Callable[[pd.Series], str]) -> None:
        """Record the first bad line; ``{value}`` in ``message`` becomes the cell.

        ``message`` may instead be a function of the whole offending row.
        """
        if bool(bad.any()):
            line = int(bad.idxmax())
            row = self.frame.loc[line]
            text = message(row) if callable(message) else message.replace("{value}", row[column])
            self.errors.append(CsvImportError(self.path, line, column, text))

    def raise_first(self) -> None:
        if self.errors:
            raise min(self.errors, key=lambda e: e.line)

    def required(self, *columns: str) -> None:
        for column in columns:
            self.flag(self.frame[column] == "", column, "required value is empty")

    def ids(self, *columns: str) -> None:
        """The one id grammar (``model/grammar.py``), so every imported id can be erased through a path."""
        for column in columns:
            values = self.frame[column]
            bad = (values != "") & (~values.str.fullmatch(ID_PATTERN) | values.isin((".", "..")))
            self.flag(bad, column, partial(_refused_id, column))

    def texts(self, *columns: str) -> None:
        """Bounded, printable texts: a company or title, not a pasted document."""
        for column in columns:
            if column in self.frame.columns:
                values = self.frame[column]
                bad = (values.str.len() > MAX_TEXT_LENGTH) | values.str.contains(_BAD_TEXT, regex=True)
                self.flag(bad, column, partial(_refused_text, column))

    def lists(self, column: str, separator: str) -> None:
        """At most MAX_LIST_ITEMS items, each a bounded text."""
        if column not in self.frame.columns:
            return
        items = self.frame[column].str.split(separator)
        self.flag(items.str.len() > MAX_LIST_ITEMS, column, f"at most {MAX_LIST_ITEMS} items")
        longest = items.map(lambda parts: max((len(p.strip()) for p in parts), default=0))
        self.flag(longest > MAX_TEXT_LENGTH, column, f"each item at most {MAX_TEXT_LENGTH} characters")
        self.flag(self.frame[column].str.contains(_BAD_TEXT, regex=True), column,
                  "no control characters (tab, newline, NUL ...) or unpaired surrogates")

    def choice(self, column: str, allowed: tuple[str, ...], what: str) -> pd.Series:
        values = self.frame[column].str.lower()
        self.flag(
            ~values.isin(allowed) & (values != ""),
            column,
            f"unknown {what} '{{value}}' (allowed: {', '.join(allowed)})",
        )
        return values

    def integer(self, column: str, low: int, high: int | None, what: str) -> pd.Series:
        """Empty cell -> None; otherwise an int within [low, high]."""
        text = self.frame[column]
        empty = text == ""
        self.flag(~empty & ~text.str.fullmatch(_INTEGER), column, f"{what} '{{value}}' is not an integer")
        numbers = pd.to_numeric(text.where(~empty & text.str.fullmatch(_INTEGER)), errors="coerce")
        outside = numbers < low
        if high is not None:
            outside |= numbers > high
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        self.flag(outside, column, f"{what} {{value}} is out of range {bounds}")
        return pd.Series([None if pd.isna(n) else int(n) for n in numbers], index=text.index, dtype=object)

    def boolean(self, column: str, default: bool | None) -> pd.Series:
        values = self.frame[column].str.lower()
        known = values.isin(_TRUE + _FALSE)
        self.flag(
            ~known & (values != ""),
            column,
            "'{value}' is not a boolean (use true/false, yes/no or 1/0)",
        )
        result = values.isin(_TRUE).astype(object)
        return result.where(known, default)

    def timestamp(self, column: str) -> pd.Series:
        """UTC epoch seconds (float); naive or unparsable values are errors."""
        text = self.frame[column]
        # pandas' nanosecond times end in 2262 and raise beyond it even under errors="coerce"
        far = text.str.match(FAR_YEAR, na=False)
        self.flag(far, column, "timestamp '{value}' must lie between 1970-01-01T00:00:00Z and one day from now")
        parsed = pd.to_datetime(text.where(~far, ""), utc=True, format="ISO8601", errors="coerce")
        self.flag(
            parsed.isna() & (text != ""),
            column,
            "unparsable timestamp '{value}' (use ISO 8601, e.g. 2025-01-01T10:00:00+00:00)",
        )
        self.flag(
            parsed.notna() & ~text.str.contains(_AWARE, regex=True),
            column,
            "naive timestamp '{value}' (add a UTC offset such as +00:00)",
        )
        seconds = (parsed - _EPOCH).dt.total_seconds()
        self.flag((seconds < EARLIEST_EVENT) | (seconds > latest_event_time()), column,
                  "timestamp '{value}' must lie between 1970-01-01T00:00:00Z and one day from now")
        return seconds
