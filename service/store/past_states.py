"""An owner's pair states at a past time (a backtest's ``as_of``), from the stored rows where they suffice.

A pair's state at ``as_of`` is what its events strictly before ``as_of`` say
(``replay_states`` replays every event: the reference). Three cases, each exact:

* **No event at or after ``as_of``** (stored ``last_ts < as_of``): its events
  before ``as_of`` are all its events, so the stored aggregate is its state.
* **Its stored recent blob holds every one of its events** (stored ``n_total``
  equals the blob's length: its history spans at most ``RECENT_DAYS`` before
  its last event): its events before ``as_of`` are the blob's events before
  ``as_of``, already decoded by the stored read and in (pair, time) order, so
  ``pair_scalars`` and ``prune_recent`` over them are the replay's own
  computation on the same events.
* **Otherwise** (events older than the blob's window and a change since
  ``as_of``): the blob misses events the state needs (the old events count in
  the totals, the warmth sums and possibly the recent window), so that pair
  alone is replayed from the events table.

The states come back in the stored (contact) order, so ``candidate_features``
finds its canonical order already there. ``tests/test_past_states.py`` holds
them equal to the full replay, scalar by scalar and event by event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from introrank.model.aggregates import pair_scalars
from introrank.model.constants import CONTACT_ID
from introrank.model.events import EventArrays
from introrank.service.store.aggregates import (
    EVENT_COLUMNS,
    PairStates,
    load_owner_states,
    states_from_events,
    take_states,
)
from introrank.service.store.engine import raw_cursor

_CHUNK = 500  # contact ids per IN list (well under SQLite's variable limit)


def states_as_of(conn: Connection, tenant_id: int, owner_id: str, as_of: float,
                 stored: PairStates | None = None) -> PairStates:
    """The owner's pair states at ``as_of``: what the stored events strictly before it say.

    Pairs with no event before ``as_of`` are left out, as the replay leaves them out.
    ``stored``: the owner's current stored states when the caller holds them (the
    server's states cache, ``state_cache``), so a backtest does not read them again;
    they are not modified.
    """
    stored = load_owner_states(conn, tenant_id, owner_id) if stored is None else stored
    changed, whole = pair_sources(stored, as_of)
    if not changed.any():
        return stored
    n, recent = len(stored.pairs), stored.recent
    replayed = np.flatnonzero(changed & ~whole)

    before = whole[recent.pair] & (recent.ts < as_of)  # the blob pairs' events before as_of
    from_blob = pair_scalars(recent.take(before), n)  # rows of the other pairs are unused
    scalars = {k: np.where(whole, from_blob[k], v) for k, v in stored.scalars.items()}
    # prune_recent would keep all of them: they are all at or after last_ts - RECENT_DAYS (the
    # blob's cut, so the whole history) and the new last_ts is not later than the stored one.
    recent = recent.take(~changed[recent.pair] | before)
    present = ~whole | (from_blob["n_total"] > 0)

    if len(replayed):
        ids = stored.pairs[CONTACT_ID].to_numpy(object)[replayed]
        events = read_pair_events(conn, tenant_id, owner_id, ids.tolist(), as_of)
        states = states_from_events(events)
        rows = pd.Index(stored.pairs[CONTACT_ID]).get_indexer(states.pairs[CONTACT_ID])
        present[replayed] = False
        present[rows] = True
        for k, v in scalars.items():
            v[rows] = states.scalars[k]
        pair = np.concatenate([recent.pair, rows[states.recent.pair]])
        order = np.argsort(pair, kind="stable")  # each pair's events come from one source, in time order
        recent = EventArrays(pair[order], *(np.concatenate([a, b])[order] for a, b in (
            (recent.ts, states.recent.ts), (recent.type_code, states.recent.type_code),
            (recent.dir_code, states.recent.dir_code), (recent.useful, states.recent.useful))))
    out = PairStates(stored.pairs, scalars, recent)
    return out if present.all() else take_states(out, np.flatnonzero(present))


def pair_sources(stored: PairStates, as_of: float) -> tuple[np.ndarray, np.ndarray]:
    """Per stored pair: whether it has an event at or after ``as_of`` (else its stored state is its
    state then), and whether it does and its blob holds every one of its events (rebuilt from the blob)."""
    changed = stored.scalars["last_ts"] >= as_of  # NaN (no events) compares False: kept as stored
    blob_length = np.bincount(stored.recent.pair, minlength=len(stored.pairs))
    return changed, changed & (stored.scalars["n_total"] == blob_length)


def read_pair_events(conn: Connection, tenant_id: int, owner_id: str, contact_ids: list[str],
                     before: float) -> pd.DataFrame:
    """These pairs' events strictly before ``before``, in (contact, time) order, on the raw cursor."""
    rows: list[tuple] = []
    with raw_cursor(conn) as (cursor, mark):
        for start in range(0, len(contact_ids), _CHUNK):
            chunk = contact_ids[start : start + _CHUNK]
            cursor.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE tenant_id = {mark} "
                           f"AND owner_id = {mark} AND contact_id IN ({', '.join([mark] * len(chunk))}) "
                           f"AND occurred_at < {mark} ORDER BY contact_id, occurred_at",
                           [tenant_id, owner_id, *chunk, before])
            rows += cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_COLUMNS)
    return pd.DataFrame({name: list(values) for name, values in zip(EVENT_COLUMNS, columns, strict=True)})
