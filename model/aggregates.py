"""Per-(owner, contact) sufficient statistics: the state behind every feature.

A pair's state has two parts:

* **scalars** (``SCALAR_FIELDS``): counts, first/last times and decayed warmth
  sums referenced at the pair's last event. They merge exactly
  (``merge_scalars``), so the service can fold a new batch of events, late ones
  included, into a stored row without reading history.
* **recent events**: the pair's events of the last ``RECENT_DAYS`` before its
  newest one, enough to answer every windowed feature at any time after it.

Training computes the same state from the events before a cut, so offline and
online features come out of one piece of code (``window_stats`` and
``introrank.model.features.dynamic_features``).
"""

from __future__ import annotations

import struct

import numpy as np

from introrank.model.constants import ASK, EVENT_TYPE_CODES, EVENT_TYPES, GIVE, INTRO, MEETING, REFERRAL
from introrank.model.events import SECONDS_PER_DAY, EventArrays

WARMTH_HALF_LIVES_DAYS = (7, 30, 180)
WINDOW_DAYS = (30, 90, 365)
ASK_WINDOW_DAYS = 90
RESPONSE_DAYS = 7
RECENT_DAYS = 365
# How much one event of each type warms a tie (a meeting more than a like).
EVENT_WARMTH = {"touch": 0.5, "message": 1.0, "meeting": 2.0, "give": 1.5, "ask": 1.0,
                "intro": 1.0, "referral": 1.0}
_WARMTH_BY_CODE = np.array([EVENT_WARMTH[t] for t in EVENT_TYPES])
_ASK, _GIVE, _MEETING = EVENT_TYPE_CODES[ASK], EVENT_TYPE_CODES[GIVE], EVENT_TYPE_CODES[MEETING]
_SUCCESS = (EVENT_TYPE_CODES[INTRO], EVENT_TYPE_CODES[REFERRAL])

TIME_FIELDS = ("first_ts", "last_ts", "last_in_ts", "last_meeting_ts", "last_ask_ts")
COUNT_FIELDS = ("n_total", "n_in", "n_out", "n_give", "n_ask", "n_success")
WARMTH_FIELDS = tuple(f"warm_{h}" for h in WARMTH_HALF_LIVES_DAYS)
SCALAR_FIELDS = TIME_FIELDS + COUNT_FIELDS + WARMTH_FIELDS
INBOUND_WINDOW_DAYS = (7, 30)
WINDOW_FIELDS = (tuple(f"n_{d}d" for d in WINDOW_DAYS) + tuple(f"in_{d}d" for d in INBOUND_WINDOW_DAYS)
                 + ("asks_90d", "outs_365d", "answered_365d"))

Scalars = dict[str, np.ndarray]


def _group_max(pair: np.ndarray, values: np.ndarray, n_pairs: int) -> np.ndarray:
    out = np.full(n_pairs, -np.inf)
    np.maximum.at(out, pair, values)
    out[np.isneginf(out)] = np.nan
    return out


def _group_min(pair: np.ndarray, values: np.ndarray, n_pairs: int) -> np.ndarray:
    out = np.full(n_pairs, np.inf)
    np.minimum.at(out, pair, values)
    out[np.isposinf(out)] = np.nan
    return out


def _count(pair: np.ndarray, mask: np.ndarray, n_pairs: int) -> np.ndarray:
    return np.bincount(pair[mask], minlength=n_pairs).astype(np.float64)


def pair_scalars(events: EventArrays, n_pairs: int) -> Scalars:
    """Scalars of each pair over all of ``events``; pairs without events get NaN times, 0 counts."""
    p, ts, tc, dc = events.pair, events.ts, events.type_code, events.dir_code
    last = _group_max(p, ts, n_pairs)
    success = np.isin(tc, _SUCCESS) & (events.useful != 0)
    out: Scalars = {
        "first_ts": _group_min(p, ts, n_pairs),
        "last_ts": last,
        "last_in_ts": _group_max(p[dc == 1], ts[dc == 1], n_pairs),
        "last_meeting_ts": _group_max(p[tc == _MEETING], ts[tc == _MEETING], n_pairs),
        "last_ask_ts": _group_max(p[tc == _ASK], ts[tc == _ASK], n_pairs),
        "n_total": _count(p, np.ones_like(p, dtype=bool), n_pairs),
        "n_in": _count(p, dc == 1, n_pairs),
        "n_out": _count(p, dc == 0, n_pairs),
        "n_give": _count(p, tc == _GIVE, n_pairs),
        "n_ask": _count(p, tc == _ASK, n_pairs),
        "n_success": _count(p, success, n_pairs),
    }
    age_days = (last[p] - ts) / SECONDS_PER_DAY if len(p) else np.empty(0)
    weight = _WARMTH_BY_CODE[tc] if len(tc) else np.empty(0)
    for half_life, field in zip(WARMTH_HALF_LIVES_DAYS, WARMTH_FIELDS, strict=True):
        contrib = weight * np.exp2(-age_days / half_life)
        out[field] = np.bincount(p, weights=contrib, minlength=n_pairs)
    return out


def merge_scalars(a: Scalars, b: Scalars) -> Scalars:
    """Scalars of the union of two event sets (any time order: late events are exact)."""
    last = np.fmax(a["last_ts"], b["last_ts"])
    out: Scalars = {"first_ts": np.fmin(a["first_ts"], b["first_ts"]), "last_ts": last}
    for field in TIME_FIELDS[2:]:
        out[field] = np.fmax(a[field], b[field])
    for field in COUNT_FIELDS:
        out[field] = a[field] + b[field]
    for half_life, field in zip(WARMTH_HALF_LIVES_DAYS, WARMTH_FIELDS, strict=True):
        out[field] = _rebase(a[field], a["last_ts"], last, half_life) + _rebase(
            b[field], b["last_ts"], last, half_life
        )
    return out


def _rebase(warmth: np.ndarray, ref: np.ndarray, new_ref: np.ndarray, half_life: float) -> np.ndarray:
    """Decay a warmth sum from its reference time to a later one (0 where empty)."""
    with np.errstate(invalid="ignore"):
        decayed = warmth * np.exp2(-(new_ref - ref) / SECONDS_PER_DAY / half_life)
    return np.where(np.isnan(ref), 0.0, decayed)


def decayed_warmth(scalars: Scalars, at: float | np.ndarray) -> dict[str, np.ndarray]:
    """Warmth sums decayed from each pair's last event to time ``at``.

    A last event after ``at`` (the API allows a day of clock skew; older stores may hold
    more) counts as happening at ``at``: decay never runs backwards, so warmth never
    exceeds the undecayed sum, let alone becomes infinite.
    """
    last = scalars["last_ts"]
    return {
        field: _rebase(scalars[field], last, np.fmax(np.asarray(at, dtype=float), last), h)
        for h, field in zip(WARMTH_HALF_LIVES_DAYS, WARMTH_FIELDS, strict=True)
    }


def prune_recent(events: EventArrays, last_ts: np.ndarray) -> EventArrays:
    """Keep each pair's events of the last RECENT_DAYS before its newest event."""
    if not len(events):
        return events
    keep = events.ts >= last_ts[events.pair] - RECENT_DAYS * SECONDS_PER_DAY
    return events.take(keep)


# Window statistics count each event into one of these classes, per pair: the age band it falls in (older
# than the ask window, then inside 90, 30 and 7 days), whether it is inbound, an ask, an answered outbound.
_BANDS = np.array([ASK_WINDOW_DAYS, 30, 7], dtype=np.float64)  # band b = how many of these the age is within
_N_CLASSES = 4 * 2 * 2 * 2


def _class_mask(band_min: int = 0, inbound: bool | None = None, ask: bool | None = None,
                answered: bool | None = None) -> np.ndarray:
    """Which of the ``_N_CLASSES`` classes (band * 8 + inbound * 4 + ask * 2 + answered) a statistic sums."""
    code = np.arange(_N_CLASSES)
    band, is_in, is_ask, is_answered = code // 8, (code // 4) % 2, (code // 2) % 2, code % 2
    keep = band >= band_min
    for flag, value in ((is_in, inbound), (is_ask, ask), (is_answered, answered)):
        if value is not None:
            keep &= flag == int(value)
    return keep


assert WINDOW_DAYS == (30, 90, 365) and INBOUND_WINDOW_DAYS == (7, 30) and RECENT_DAYS == 365  # the bands
_SUMS = {  # every statistic as a sum of classes (all events in the table are inside RECENT_DAYS)
    "n_30d": _class_mask(2), "n_90d": _class_mask(1), "n_365d": _class_mask(0),
    "in_7d": _class_mask(3, inbound=True), "in_30d": _class_mask(2, inbound=True),
    "asks_90d": _class_mask(1, ask=True), "outs_365d": _class_mask(0, inbound=False),
    "answered_365d": _class_mask(0, inbound=False, answered=True),
}
_SUM_NAMES = tuple(_SUMS)
_SUM_MATRIX = np.column_stack([_SUMS[name] for name in _SUM_NAMES]).astype(np.float64)  # class x statistic
_BAND_EDGES = np.sort(_BANDS)  # ascending: the band is how many edges are at least the age


def window_stats(recent: EventArrays, at: float, n_pairs: int) -> dict[str, np.ndarray]:
    """Windowed counts and responsiveness at time ``at`` from events strictly before it.

    ``recent`` must hold every event of the last RECENT_DAYS before ``at`` (more is fine).
    One pass: each event gets a class (age band, inbound, ask, answered) and one
    ``bincount`` over (pair, class) counts them all, events outside the window
    going to a pair beyond the last; ``tests/test_features.py`` holds it equal to
    counting each statistic on its own (``window_stats_reference`` there).
    """
    ts = recent.ts
    inside = (ts < at) & (ts >= at - RECENT_DAYS * SECONDS_PER_DAY)
    age_days = (at - ts) / SECONDS_PER_DAY
    band = len(_BAND_EDGES) - np.searchsorted(_BAND_EDGES, age_days, side="left")
    inbound = recent.dir_code == 1
    code = band * 8 + inbound * 4 + (recent.type_code == _ASK) * 2 + (_answered(recent, at) & ~inbound)
    row = np.where(inside, recent.pair, n_pairs)
    table = np.bincount(row * _N_CLASSES + code, minlength=(n_pairs + 1) * _N_CLASSES)
    table = table.reshape(n_pairs + 1, _N_CLASSES)[:n_pairs].astype(np.float64)
    sums = np.ascontiguousarray((table @ _SUM_MATRIX).T)  # one product for every statistic: exact counts
    return {name: sums[i] for i, name in enumerate(_SUM_NAMES)}


def _answered(ev: EventArrays, at: float) -> np.ndarray:
    """For each event, whether an inbound event of the same pair before ``at`` follows within RESPONSE_DAYS.

    The first inbound event after it (``EventArrays.next_inbound_ts``) is the one to
    look at: a later one is later still, so if the first is at or after ``at``, none
    before ``at`` follows. Inbound events older than an event's window come before it,
    so they never answer it.
    """
    nxt = ev.next_inbound_ts
    return (nxt < at) & (nxt - ev.ts <= RESPONSE_DAYS * SECONDS_PER_DAY)


# --- storing the recent events of one pair in one column ---------------------
_RECENT_DTYPE = np.dtype([("ts", "<f8"), ("type", "i1"), ("dir", "i1"), ("useful", "<f4")])
RECENT_ITEMSIZE = _RECENT_DTYPE.itemsize
_FIRST_TS = struct.Struct("<d")  # ``ts`` leads each record


def recent_times(blob: bytes) -> np.ndarray:
    """The event times of one pair's blob (ascending), as a view: nothing else is decoded."""
    return np.frombuffer(blob, dtype=_RECENT_DTYPE)["ts"]


def first_recent_time(blob: bytes) -> float:
    """The oldest event time of a non-empty blob."""
    return float(_FIRST_TS.unpack_from(blob)[0])


def encode_recent(ts: np.ndarray, type_code: np.ndarray, dir_code: np.ndarray, useful: np.ndarray) -> bytes:
    rec = np.empty(len(ts), dtype=_RECENT_DTYPE)
    rec["ts"], rec["type"], rec["dir"], rec["useful"] = ts, type_code, dir_code, useful
    return rec.tobytes()


def encode_recent_by_pair(recent: EventArrays, n_pairs: int) -> list[bytes]:
    """One blob per pair 0..n_pairs-1 (``encode_recent`` of its events), encoded in one pass.

    ``recent`` is sorted by pair, so each pair's bytes are one contiguous slice.
    """
    whole = encode_recent(recent.ts, recent.type_code, recent.dir_code, recent.useful)
    bounds = np.searchsorted(recent.pair, np.arange(n_pairs + 1)) * _RECENT_DTYPE.itemsize
    return [whole[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def decode_recent(blobs: list[bytes]) -> EventArrays:
    """Concatenate per-pair blobs (pair i = blobs[i]) into one EventArrays.

    Each blob is already in time order and pairs come in index order, so the
    result is sorted by (pair, ts) without another sort.
    """
    itemsize = _RECENT_DTYPE.itemsize
    lengths = np.fromiter((len(b) // itemsize for b in blobs), dtype=np.int64, count=len(blobs))
    rec = np.frombuffer(b"".join(blobs), dtype=_RECENT_DTYPE)
    pair = np.repeat(np.arange(len(blobs), dtype=np.int64), lengths)
    return EventArrays(pair, rec["ts"].astype(np.float64), rec["type"].astype(np.int8), rec["dir"].astype(np.int8),
                       rec["useful"].astype(np.float64))
