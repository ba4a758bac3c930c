"""Bad rows as errors an operator can act on: the error type, and the vectorised checks that raise it.

Shared by every step that can reject a row (reading, mapping, validation, the
referential checks), so each names the file, line and field the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_AWARE = r"\d(?:[zZ]|[+-]\d\d:?\d\d)$"  # a UTC offset right after the time
_INTEGER = r"[+-]?\d+(?:\.0*)?"  # "3" and "3.0" (spreadsheets) are integers
_EPOCH = pd.Timestamp(0, tz="UTC")


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
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
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
        # Microseconds: a year past 2262 (refused by the caller's range check) would overflow nanoseconds.
        return (parsed.dt.as_unit("us") - _EPOCH.as_unit("us")).dt.total_seconds()
