"""Events as flat NumPy columns, the one shape every feature computation reads.

Offline (training), online (the service's stored aggregates) and stateless scoring
all turn their events into an ``EventArrays`` first, so the feature code sees one
representation and cannot drift between paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from introrank.model.constants import (
    CONTACT_ID,
    DIRECTION,
    DIRECTION_CODES,
    EVENT_TYPE_CODES,
    OCCURRED_AT,
    OWNER_ID,
    TYPE,
    USEFUL,
)

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class EventArrays:
    """Events sorted by (pair, ts); ``pair`` indexes a caller-owned pair table.

    ``useful`` is 1.0 / 0.0 / NaN (unknown), so ``useful == 0`` means explicitly
    marked not useful.
    """

    pair: np.ndarray  # int64, shape (n,)
    ts: np.ndarray  # float64 UTC epoch seconds, shape (n,)
    type_code: np.ndarray  # int8, codes of constants.EVENT_TYPES
    dir_code: np.ndarray  # int8, 0 = out, 1 = in
    useful: np.ndarray  # float64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @cached_property
    def next_inbound_ts(self) -> np.ndarray:
        """For each event, the time of its pair's first inbound event in a later whole second (inf if none).

        Whether an event was answered by time ``at`` is then one comparison
        (``model.aggregates._answered``); computed once per instance, because the
        service keeps an owner's decoded events between requests (``state_cache``)
        and asks about them at a new ``at`` each time. Keys pack (pair, whole
        second) into one int64 so a single searchsorted finds the next inbound event.
        """
        inbound = np.flatnonzero(self.dir_code == 1)
        out = np.full(len(self), np.inf)
        if not len(self) or not len(inbound):
            return out
        keys = (self.pair << 32) + np.floor(self.ts).astype(np.int64)
        nxt = np.searchsorted(keys[inbound], keys, side="right")
        found = nxt < len(inbound)
        idx = inbound[np.minimum(nxt, len(inbound) - 1)]
        same_pair = found & (self.pair[idx] == self.pair)
        out[same_pair] = self.ts[idx[same_pair]]
        return out

    def take(self, mask_or_index: np.ndarray) -> EventArrays:
        return EventArrays(
            self.pair[mask_or_index],
            self.ts[mask_or_index],
            self.type_code[mask_or_index],
            self.dir_code[mask_or_index],
            self.useful[mask_or_index],
        )

    @classmethod
    def build(
        cls,
        pair: np.ndarray,
        ts: np.ndarray,
        type_code: np.ndarray,
        dir_code: np.ndarray,
        useful: np.ndarray,
    ) -> EventArrays:
        """Sort stably by (pair, ts) so every path orders ties the same way."""
        pair = np.asarray(pair, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.float64)
        order = _pair_time_order(pair, ts)
        return cls(
            pair[order],
            ts[order],
            np.asarray(type_code, dtype=np.int8)[order],
            np.asarray(dir_code, dtype=np.int8)[order],
            np.asarray(useful, dtype=np.float64)[order],
        )

    @classmethod
    def empty(cls) -> EventArrays:
        return cls.build(np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0))


def _pair_time_order(pair: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``np.lexsort((ts, pair))``, computed more cheaply where that gives the same order.

    Stored recent events followed by a batch of newer ones, or events read in
    time order, already ascend in time within each pair: a stable sort by pair
    alone (a linear merge of sorted runs) then gives exactly lexsort's order,
    ties included. Late events (a batch older than some stored ones) take one
    stable sort of (pair, time) packed into one integer (``_packed_pair_time``),
    which on two sorted runs is again a linear merge; only when that packing
    would not be exact does the full lexsort run.
    """
    order = np.argsort(pair, kind="stable")
    p, t = pair[order], ts[order]
    if len(order) < 2 or not bool(np.any((p[1:] == p[:-1]) & (t[1:] < t[:-1]))):
        return order
    packed = _packed_pair_time(pair, ts)
    if packed is not None:
        order = np.argsort(packed, kind="stable")
        k, t = packed[order], ts[order]
        if not bool(np.any((k[1:] == k[:-1]) & (t[1:] != t[:-1]))):  # no two times merged into one key
            return order
    return np.lexsort((ts, pair))


def _packed_pair_time(pair: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """(pair, whole microseconds since the earliest event) in one int64, or None if it doesn't fit.

    The packing never reorders two events (every step is monotone); it can only
    make two different times equal, which the caller checks for.
    """
    if not len(pair) or int(pair.min()) < 0 or not bool(np.isfinite(ts).all()):
        return None
    micros = np.round((ts - ts.min()) * 1e6)
    time_bits = 63 - int(pair.max()).bit_length()
    if float(micros.max()) >= 2.0**time_bits:
        return None
    return (pair.astype(np.int64) << time_bits) | micros.astype(np.int64)


def _encode(values: pd.Series | np.ndarray, codes: dict[str, int], what: str) -> np.ndarray:
    """Names to small-int codes; the first unknown name is the error, with the allowed ones.

    Factorizing first means the dictionary lookup runs once per distinct name, not
    once per event: an API batch of 1,000 events has a handful of distinct types.
    """
    index, names = pd.factorize(values if isinstance(values, pd.Series) else np.asarray(values, dtype=object))
    lookup = np.empty(len(names), dtype=np.int8)
    for i, name in enumerate(names.tolist()):
        code = codes.get(name) if isinstance(name, str) else None
        if code is None:
            raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(codes)}")
        lookup[i] = code
    if len(index) and index.min() < 0:  # a missing value (None / NaN): factorize leaves it out of ``names``
        bad = np.asarray(values, dtype=object)[int(np.argmin(index))]
        raise ValueError(f"unknown {what} {bad!r}; allowed: {', '.join(codes)}")
    return lookup[index]


def encode_types(types: pd.Series | np.ndarray) -> np.ndarray:
    return _encode(types, EVENT_TYPE_CODES, "event type")


def encode_directions(directions: pd.Series | np.ndarray) -> np.ndarray:
    return _encode(directions, DIRECTION_CODES, "direction")


_USEFUL_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "": np.nan, "none": np.nan, "nan": np.nan}


def _useful_value(value: str | float) -> float:
    if isinstance(value, str):
        return _USEFUL_TEXT.get(value.strip().lower(), np.nan)
    return float(value)  # bools, 0/1 (None and NaN never get here: factorize drops them)


def encode_useful(useful: pd.Series | np.ndarray | None, n: int) -> np.ndarray:
    """Map true/false/empty (or bools, 0/1, None) to 1.0/0.0/NaN; unknown text is NaN."""
    if useful is None:
        return np.full(n, np.nan)
    values = pd.Series(useful)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").to_numpy(na_value=np.nan)
    index, distinct = pd.factorize(values.to_numpy(dtype=object))
    lookup = np.array([_useful_value(v) for v in distinct.tolist()] + [np.nan], dtype=np.float64)
    return lookup[index]  # index -1 (missing) picks the trailing NaN


def to_epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timezone-aware timestamps (or ISO strings with offsets) to UTC epoch seconds."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    return ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(np.float64)


def frame_to_event_arrays(events: pd.DataFrame, pair_index: pd.DataFrame) -> EventArrays:
    """Events frame (CSV column names; ``occurred_at`` epoch seconds or ISO) to arrays.

    ``pair_index`` has columns owner_id, contact_id, pair (int); events of pairs
    not in it are dropped, which is how callers restrict to candidates.
    """
    keyed = events.merge(pair_index, on=[OWNER_ID, CONTACT_ID], how="inner", sort=False)
    return EventArrays.build(
        keyed["pair"].to_numpy(),
        to_epoch_seconds(keyed[OCCURRED_AT]),
        encode_types(keyed[TYPE].to_numpy()),
        encode_directions(keyed[DIRECTION].to_numpy()),
        encode_useful(keyed[USEFUL] if USEFUL in keyed else None, len(keyed)),
    )
