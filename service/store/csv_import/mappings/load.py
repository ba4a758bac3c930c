"""A mapping TOML file -> a checked :class:`Mapping`, so a typo fails before any data file is read."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from introrank.model.constants import (
    CONTACT_OPTIONAL_COLUMNS,
    CONTACT_REQUIRED_COLUMNS,
    DIRECTION,
    DIRECTIONS,
    EVENT_OPTIONAL_COLUMNS,
    EVENT_REQUIRED_COLUMNS,
    EVENT_TYPES,
    GOAL,
    GOALS,
    OWNER_OPTIONAL_COLUMNS,
    OWNER_REQUIRED_COLUMNS,
    TYPE,
)
from introrank.service.store.csv_import.checks import CsvImportError

SHIPPED = Path(__file__).parent  # hubspot.toml, salesforce.toml: `--mapping hubspot`
EPOCH_MS = "epoch_ms"
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "owners": (OWNER_REQUIRED_COLUMNS, OWNER_OPTIONAL_COLUMNS),
    "contacts": (CONTACT_REQUIRED_COLUMNS, CONTACT_OPTIONAL_COLUMNS),
    "events": (EVENT_REQUIRED_COLUMNS, EVENT_OPTIONAL_COLUMNS),
}
_KEYS = ("columns", "join", "constants", "values", "skip")
_TIME_KEYS = ("timestamp_format", "timezone")  # events only
_VOCABULARY = {TYPE: EVENT_TYPES, DIRECTION: DIRECTIONS, GOAL: GOALS}


@dataclass(frozen=True)
class FileMapping:
    """One ``[kind]`` table, checked; foreign names as written, values lower-cased."""

    kind: str
    columns: dict[str, tuple[str, ...]]  # foreign column -> our columns
    join: dict[str, tuple[str, ...]]  # our column -> foreign columns
    constants: dict[str, str]
    values: dict[str, dict[str, str]]  # our column -> {lower-cased foreign value: ours}
    skip: dict[str, frozenset[str]]  # foreign column -> lower-cased values whose rows are dropped
    timestamp_formats: tuple[str, ...]
    timezone: ZoneInfo


@dataclass(frozen=True)
class Mapping:
    path: Path
    files: dict[str, FileMapping]


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def load_mapping(spec: Path | str) -> Mapping:
    """A shipped mapping by name (``hubspot``) or a TOML file by path, fully checked."""
    path = Path(spec)
    if path.suffix == "" and path.parent == Path(".") and (SHIPPED / f"{path.name}.toml").is_file():
        path = SHIPPED / f"{path.name}.toml"
    elif not path.exists() and path.suffix == "":
        message = f"unknown mapping '{spec}' (shipped: {', '.join(shipped_names())}; or the path of a .toml file)"
        raise CsvImportError(path, 0, "mapping", message)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CsvImportError(path, 1, "mapping", f"cannot read mapping file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise CsvImportError(path, 1, "mapping", f"mapping file is not UTF-8 text ({exc.reason})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        raise CsvImportError(path, int(found.group(1)) if found else 1, "mapping", f"invalid TOML: {exc}") from exc
    files = {}
    for kind, table in data.items():
        if kind not in KINDS or not isinstance(table, dict):
            _fail(path, text, kind, kind, f"unknown file kind [{kind}] (expected: {', '.join(KINDS)})")
        files[kind] = _file_mapping(kind, table, partial(_fail, path, text, kind))
    return Mapping(path, files)


def _fail(path: Path, text: str, section: str, needle: str, message: str) -> NoReturn:
    """Raise, pointing at the first line naming ``needle`` inside ``[section]`` (else the section, else 1)."""
    lines = text.splitlines()
    header = re.compile(rf"\s*\[+\s*{re.escape(section)}\b")
    start = next((i for i, line in enumerate(lines) if header.match(line)), 0)
    line = next((i + 1 for i in range(start, len(lines)) if needle in lines[i]), start + 1)
    raise CsvImportError(path, line, "mapping", message)


def _strings(value: object) -> tuple[str, ...] | None:
    """A string or a non-empty list of strings as a tuple, else None."""
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items and all(isinstance(v, str) for v in items):
        return tuple(items)
    return None


def _file_mapping(kind: str, table: dict, fail: Callable[[str, str], NoReturn]) -> FileMapping:
    required, optional = KINDS[kind]
    ours = (*required, *optional)
    allowed = (*_KEYS, *_TIME_KEYS) if kind == "events" else _KEYS
    for key in table:
        if key not in allowed:
            fail(key, f"[{kind}] unknown key '{key}' (allowed: {', '.join(allowed)})")
    for key in _KEYS:
        if not isinstance(table.get(key, {}), dict):
            fail(key, f"[{kind}] '{key}' must be a table, e.g. {key} = {{ ... }}")
    produced: dict[str, str] = {}  # our column -> the rule producing it

    def claim(target: str, rule: str, needle: str) -> None:
        if target not in ours:
            fail(needle, f"[{kind}.{rule}] '{target}' is not one of our {kind} columns ({', '.join(ours)})")
        if target in produced:
            fail(needle, f"[{kind}.{rule}] our column '{target}' is already produced by [{kind}.{produced[target]}]")
        produced[target] = rule

    def foreign_names(names: list[str], rule: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name.strip().lower() in seen:
                fail(name, f"[{kind}.{rule}] '{name}' is named twice (matching ignores case and spaces)")
            seen.add(name.strip().lower())

    columns: dict[str, tuple[str, ...]] = {}
    for foreign, targets in table.get("columns", {}).items():
        names = _strings(targets)
        if names is None:
            fail(foreign, f"[{kind}.columns] '{foreign}' must map to our column name or a list of them")
        for target in names:
            claim(target, "columns", foreign)
        columns[foreign] = names
    foreign_names(list(columns), "columns")
    join: dict[str, tuple[str, ...]] = {}
    for target, parts in table.get("join", {}).items():
        names = _strings(parts)
        if names is None:
            fail(target, f"[{kind}.join] '{target}' must be a list of column names")
        claim(target, "join", "join")
        join[target] = names
    constants: dict[str, str] = {}
    for target, value in table.get("constants", {}).items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            fail(target, f"[{kind}.constants] '{target}' must be a string or an integer")
        claim(target, "constants", "constants")
        constants[target] = str(value)
    values: dict[str, dict[str, str]] = {}
    for target, entries in table.get("values", {}).items():
        if produced.get(target) not in ("columns", "join"):
            fail(f"values.{target}", f"[{kind}.values.{target}] no column is mapped to our column '{target}'")
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            fail(f"values.{target}", f'[{kind}.values.{target}] must be a table of "foreign value" = "our value"')
        foreign_names(list(entries), f"values.{target}")
        values[target] = {k.strip().lower(): v for k, v in entries.items()}
    for target, value in [*((t, v) for t, m in values.items() for v in m.values()), *constants.items()]:
        allowed_values = _VOCABULARY.get(target)
        if allowed_values and value.lower() not in allowed_values:
            fail(f'"{value}"', f"[{kind}] '{value}' is not a valid {target} (ours: {', '.join(allowed_values)})")
    for column in required:
        if column not in produced:
            hint = f'map a column to it or set constants.{column} = "" (unknown)'
            fail(kind, f"[{kind}] nothing produces our required column '{column}': {hint}")
    skip: dict[str, frozenset[str]] = {}
    for foreign, dropped in table.get("skip", {}).items():
        names = _strings(dropped)
        if names is None:
            fail(foreign, f"[{kind}.skip] '{foreign}' must be a list of values whose rows are skipped")
        skip[foreign] = frozenset(v.strip().lower() for v in names)
    formats = _strings(table.get("timestamp_format", [])) if "timestamp_format" in table else ()
    if formats is None:
        fail("timestamp_format", f"[{kind}] timestamp_format must be a format string or a list of them")
    zone_name = table.get("timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        hint = "an IANA name such as 'America/New_York'; without a system tz database: pip install tzdata"
        fail("timezone", f"[{kind}] unknown timezone {zone_name!r} ({hint})")
    return FileMapping(kind, columns, join, constants, values, skip, formats, zone)
