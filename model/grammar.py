"""The one grammar of ids, texts, counts and times that every interface accepts.

CSV imports, API bodies and URL path segments share these rules, so an id that
gets in can always be addressed (erased) through a path, and nothing accepted can
break the store: an id is at most 200 ASCII characters, so every key (tenant,
owner, contact or event id) fits a PostgreSQL index row many times over; texts
carry no NUL (PostgreSQL refuses it) or lone surrogate (no UTF-8 encoding).
Times (an event's ``occurred_at``, a request's ``as_of``) lie between 1970 and a day
from now, so every date computed from them stays a representable date; counts have a
ceiling that fits the store's 32-bit integer columns. Each ``*_problem`` function
answers why a value is refused, or ``None``.
"""

from __future__ import annotations

import re
import time

MAX_ID_LENGTH = 200
ID_CHARACTERS = "A-Za-z0-9._:@+-"  # no '/', '?', '#', '%', whitespace: a path segment as is
ID_PATTERN = rf"^[{ID_CHARACTERS}]{{1,{MAX_ID_LENGTH}}}$"  # for JSON schemas; '.' and '..' refused besides
_ID = re.compile(rf"[{ID_CHARACTERS}]{{1,{MAX_ID_LENGTH}}}")

MAX_TEXT_LENGTH = 200  # company, industry, title, name, one tag, one target
MAX_LIST_ITEMS = 50  # tags, target_industries, target_companies
_BAD_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

# LinkedIn caps a network at 30,000 connections; the ceiling leaves room and fits a 32-bit column.
MAX_MUTUAL_CONNECTIONS = 1_000_000

EARLIEST_EVENT = 0.0  # 1970-01-01T00:00:00Z
FUTURE_SLACK_SECONDS = 86_400.0  # clocks disagree; a day ahead is the most an event may claim


def id_problem(value: str) -> str | None:
    if _ID.fullmatch(value) is None:
        return (f"ids are 1-{MAX_ID_LENGTH} characters of letters, digits and '._:@+-' "
                "(no '/', spaces or other characters)")
    if value in (".", ".."):
        return "'.' and '..' are not ids (a URL path cannot address them)"
    return None


def text_problem(value: str) -> str | None:
    if len(value) > MAX_TEXT_LENGTH:
        return f"at most {MAX_TEXT_LENGTH} characters"
    if _BAD_TEXT.search(value):
        return "no control characters (tab, newline, NUL ...) or unpaired surrogates"
    return None


def latest_event_time(now: float | None = None) -> float:
    return (time.time() if now is None else now) + FUTURE_SLACK_SECONDS


def occurred_at_problem(timestamp: float, now: float | None = None) -> str | None:
    """An event time before 1970 or more than a day ahead would warp warmth (future = infinite)."""
    return _time_problem("occurred_at", timestamp, now)


def as_of_problem(timestamp: float, now: float | None = None) -> str | None:
    """A backtest's time: within the span events may have, so the dates derived from it (a tie going
    cold 60 days later, say) stay within what a datetime can hold."""
    return _time_problem("as_of", timestamp, now)


def _time_problem(name: str, timestamp: float, now: float | None) -> str | None:
    if not EARLIEST_EVENT <= timestamp <= latest_event_time(now):
        return f"{name} must lie between 1970-01-01T00:00:00Z and one day from now"
    return None
