"""A foreign export's frame -> a frame of our columns and vocabulary, vectorised, line numbers kept."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from introrank.model.constants import OCCURRED_AT
from introrank.service.store.csv_import.checks import Checks, CsvImportError
from introrank.service.store.csv_import.mappings.load import EPOCH_MS, KINDS, Mapping


def apply_mapping(frame: pd.DataFrame, mapping: Mapping, kind: str, path: Path) -> pd.DataFrame:
    """Skip, rename, join, translate values, add constants and convert times, all vectorised.

    ``frame`` is the reader's: lower-cased headers, stripped string cells, index =
    line number (kept, so errors here and in validation name the file's line).
    """
    spec = mapping.files.get(kind)
    if spec is None:
        return frame
    name, required = mapping.path.name, KINDS[kind][0]

    def column(foreign: str, target: str | None, rule: str) -> pd.Series | None:
        key = foreign.strip().lower()
        if key in frame.columns:
            return frame[key]
        if target is not None and target not in required:
            return None
        role = f"maps it to '{target}'" if target else "filters rows on it"
        message = f"column '{foreign}' is missing from the header ({name} [{kind}.{rule}] {role})"
        raise CsvImportError(path, 1, target or "", message)

    keep = pd.Series(True, index=frame.index)
    for foreign, dropped in spec.skip.items():
        keep &= ~column(foreign, None, "skip").str.lower().isin(dropped)  # type: ignore[union-attr]
    frame = frame[keep]
    checks = Checks(frame, path)
    out = pd.DataFrame(index=frame.index)
    sources: dict[str, str] = {}  # our column -> foreign column, for messages
    for foreign, targets in spec.columns.items():
        for target in targets:
            source = column(foreign, target, "columns")
            if source is not None:
                out[target], sources[target] = source, foreign
    for target, parts in spec.join.items():
        found = [column(part, target, "join") for part in parts]
        if all(s is not None for s in found):
            cells = zip(*found, strict=True)  # type: ignore[misc]
            out[target] = pd.Series([" ".join(p for p in row if p) for row in cells], index=frame.index)
            sources[target] = " + ".join(parts)
    for target, table in spec.values.items():
        if target in out.columns:
            problem = f"of column '{sources[target]}' has no mapping in {name} [{kind}.values.{target}]"
            out[target] = _translate(out[target], table, checks, target, problem)
    for target, value in spec.constants.items():
        out[target] = value
    if spec.timestamp_formats and OCCURRED_AT in out.columns:
        formats = ", ".join(spec.timestamp_formats)
        problem = f"of column '{sources[OCCURRED_AT]}' matches no timestamp_format of {name} [{kind}] ({formats})"
        out[OCCURRED_AT] = to_utc_iso(out[OCCURRED_AT], spec.timestamp_formats, spec.timezone, checks, problem)
    checks.raise_first()
    return out


def _translate(cells: pd.Series, table: dict[str, str], checks: Checks, target: str, problem: str) -> pd.Series:
    """Foreign values -> ours; a non-empty value missing from the table is flagged on its line."""
    mapped = cells.str.lower().map(table)
    bad = mapped.isna() & (cells != "")
    checks.flag(bad, target, lambda row: f"value '{cells[row.name]}' {problem}")
    return mapped.where(mapped.notna(), cells)


def to_utc_iso(cells: pd.Series, formats: tuple[str, ...], zone: ZoneInfo, checks: Checks, problem: str,
               column: str = OCCURRED_AT) -> pd.Series:
    """Foreign times -> ISO 8601 in UTC (``...+00:00``), which the importer then validates as usual.

    Each format is tried in order on the cells no earlier one read. ``epoch_ms``
    is milliseconds since 1970 UTC (HubSpot's API and exports); a format with
    ``%z`` carries its own offset; any other is a naive wall-clock time in
    ``zone``. A wall time that occurs twice (clocks going back) is read as the
    first occurrence and one that never occurs (clocks going forward) is
    shifted forward, so a DST change never fails an import. A cell no format reads
    is flagged on ``column`` (the LinkedIn reader names the archive's own column).
    """
    parsed = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[us, UTC]")
    for fmt in formats:
        todo = parsed.isna() & (cells != "")
        if not todo.any():
            break
        part = cells[todo]
        if fmt == EPOCH_MS:
            ms = part.str.extract(r"^(\d{1,15})(?:\.0*)?$")[0].dropna().astype("int64")
            got = pd.to_datetime(ms, unit="ms", utc=True)
        elif "%z" in fmt:
            got = pd.to_datetime(part, format=fmt, errors="coerce", utc=True)
        else:
            naive = pd.to_datetime(part, format=fmt, errors="coerce")
            first = np.ones(len(naive), dtype=bool)  # ambiguous -> the DST (first) reading
            got = naive.dt.tz_localize(zone, ambiguous=first, nonexistent="shift_forward").dt.tz_convert("UTC")
        parsed.loc[got.index] = got
    bad = parsed.isna() & (cells != "")
    checks.flag(bad, column, lambda row: f"value '{cells[row.name]}' {problem}")
    text = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return text.where(parsed.notna(), cells)
