"""File -> DataFrame of *our* column names: stripped strings, index = the line number in the file.

A foreign CRM's export goes through its mapping here, between parsing and validation.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from introrank.model.constants import (
    CONTACT_OPTIONAL_COLUMNS,
    CONTACT_REQUIRED_COLUMNS,
    EVENT_OPTIONAL_COLUMNS,
    EVENT_REQUIRED_COLUMNS,
    OWNER_OPTIONAL_COLUMNS,
    OWNER_REQUIRED_COLUMNS,
)
from introrank.service.store.csv_import.checks import CsvImportError
from introrank.service.store.csv_import.mappings import Mapping, apply_mapping


def read_owners(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, OWNER_REQUIRED_COLUMNS, OWNER_OPTIONAL_COLUMNS, mapping, "owners")


def read_contacts(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, CONTACT_REQUIRED_COLUMNS, CONTACT_OPTIONAL_COLUMNS, mapping, "contacts")


def read_events(path: Path, mapping: Mapping | None = None) -> pd.DataFrame:
    return _read_table(path, EVENT_REQUIRED_COLUMNS, EVENT_OPTIONAL_COLUMNS, mapping, "events")


def _read_table(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...], mapping: Mapping | None, kind: str
) -> pd.DataFrame:
    """Stripped string cells of the known columns; the index is the file line number."""
    frame = _apply_mapping(_read_raw(Path(path)), Path(path), mapping, kind)
    for column in required:
        if column not in frame.columns:
            raise CsvImportError(path, 1, column, "required column is missing from the header")
    present = [c for c in (*required, *optional) if c in frame.columns]
    return frame[present]


def _apply_mapping(frame: pd.DataFrame, path: Path, mapping: Mapping | None, kind: str) -> pd.DataFrame:
    """A foreign CRM's columns, values and times -> ours; identity without one."""
    return frame if mapping is None else apply_mapping(frame, mapping, kind, path)


def _read_raw(path: Path) -> pd.DataFrame:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvImportError(path, 0, "", f"cannot read file ({exc.strerror})") from exc
    return parse_csv(path, data)


def parse_csv(path: Path, data: bytes, skipped_lines: int = 0) -> pd.DataFrame:
    """CSV bytes -> stripped string cells under lower-cased headers; the index is the file line number.

    ``skipped_lines``: lines of the file before ``data`` (a preamble the caller cut off,
    as LinkedIn's Connections.csv has), so line numbers still name the file's lines.
    """
    frame = _parse_fast(path, data)
    if frame is None:  # blank lines or quoted newlines: number lines the slow, exact way
        frame = _parse_numbered(path, data, skipped_lines)
    else:
        frame.index = pd.RangeIndex(2 + skipped_lines, len(frame) + 2 + skipped_lines, name="line")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].str.strip()
    return frame


def _parse_fast(path: Path, data: bytes) -> pd.DataFrame | None:
    """The multithreaded pyarrow reader, when one row is exactly one line."""
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            engine="pyarrow",
            encoding="utf-8-sig",
        )
    except Exception:  # noqa: BLE001 - any failure: the C reader gives a precise error
        return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return frame if lines == len(frame) + 1 else None


def _parse_numbered(path: Path, data: bytes, skipped_lines: int = 0) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError as exc:
        raise CsvImportError(path, 1 + skipped_lines, "", "empty file: expected a header line") from exc
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = (int(g) for g in found.groups())
            message = f"{saw} fields where the header has {expected} (quote cells with commas)"
            raise CsvImportError(path, line + skipped_lines, "", message) from exc
        raise CsvImportError(path, 0, "", f"not a readable CSV file ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise CsvImportError(path, 0, "", f"not UTF-8 text ({exc.reason})") from exc
    frame = frame.fillna("")
    embedded = sum(frame[c].str.count("\n") for c in frame.columns)
    before = embedded.cumsum() - embedded  # quoted newlines in earlier rows
    frame.index = pd.Index(range(2 + skipped_lines, len(frame) + 2 + skipped_lines), name="line") + before.to_numpy()
    return frame[~(frame == "").all(axis=1)]
