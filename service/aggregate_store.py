"""Keeping ``pair_aggregates`` equal to what the events say, in the events' transaction.

Two writers, one definition: a bulk import recomputes the touched owners' rows
from their events (``refresh_owners``); the events endpoint folds a batch into
the stored rows with ``model.aggregates.merge_scalars`` (``fold_events``). Both
use the model's own aggregate code, and the parity test holds them to the
offline features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, select, tuple_

from model.aggregates import SCALAR_FIELDS, decode_recent, encode_recent, merge_scalars, pair_scalars, prune_recent
from model.constants import CONTACT_ID, OWNER_ID
from model.events import EventArrays, encode_directions, encode_types, encode_useful
from service.serving_tables import PairAggregate
from service.tables import Event, utc_now

_TABLE = PairAggregate.__table__


@dataclass
class PairStates:
    """Aggregates of several pairs as arrays (row i = pairs.iloc[i])."""

    pairs: pd.DataFrame  # owner_id, contact_id
    scalars: dict[str, np.ndarray]
    recent: EventArrays


def _arrays(frame: pd.DataFrame, pair: np.ndarray) -> EventArrays:
    return EventArrays.build(pair, frame["occurred_at"].to_numpy(float), encode_types(frame["type"].to_numpy()),
                             encode_directions(frame["direction"].to_numpy()),
                             encode_useful(frame["useful"], len(frame)))


def states_from_events(events: pd.DataFrame) -> PairStates:
    """States of every pair present in ``events`` (columns as the events table)."""
    pairs = events[[OWNER_ID, CONTACT_ID]].drop_duplicates().reset_index(drop=True)
    codes = pd.MultiIndex.from_frame(pairs).get_indexer(pd.MultiIndex.from_frame(events[[OWNER_ID, CONTACT_ID]]))
    arrays = _arrays(events, codes)
    scalars = pair_scalars(arrays, len(pairs))
    return PairStates(pairs, scalars, prune_recent(arrays, scalars["last_ts"]))


def _rows(tenant_id: int, states: PairStates) -> list[dict]:
    recent = states.recent
    bounds = np.searchsorted(recent.pair, np.arange(len(states.pairs) + 1))
    now = utc_now()
    rows = []
    for i, (owner_id, contact_id) in enumerate(states.pairs.itertuples(index=False)):
        lo, hi = bounds[i], bounds[i + 1]
        row = {"tenant_id": tenant_id, "owner_id": owner_id, "contact_id": contact_id, "updated_at": now,
               "recent": encode_recent(recent.ts[lo:hi], recent.type_code[lo:hi], recent.dir_code[lo:hi],
                                       recent.useful[lo:hi])}
        row.update({f: _float(states.scalars[f][i]) for f in SCALAR_FIELDS})
        rows.append(row)
    return rows


def _float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _columnar(rows: list, names: list[str]) -> pd.DataFrame:
    """Rows to a frame column by column: pandas' row-wise constructor is ~50x slower here."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pd.DataFrame({name: list(values) for name, values in zip(names, columns, strict=True)})


EVENT_COLUMNS = ["owner_id", "contact_id", "occurred_at", "type", "direction", "useful"]


def read_events(conn: Connection, tenant_id: int, owner_ids: list[str]) -> pd.DataFrame:
    """The owners' events, fetched on the raw DBAPI cursor of this transaction.

    Bulk refreshes read hundreds of thousands of rows; skipping SQLAlchemy's row
    processing makes this read several times faster (``useful`` then arrives
    as 0/1 on SQLite, which ``encode_useful`` accepts).
    """
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cursor = conn.connection.dbapi_connection.cursor()
    frames = []
    try:
        for start in range(0, len(owner_ids), 500):
            chunk = owner_ids[start : start + 500]
            sql = (f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE tenant_id = {mark} "
                   f"AND owner_id IN ({', '.join([mark] * len(chunk))})")
            cursor.execute(sql, [tenant_id, *chunk])
            frames.append(_columnar(cursor.fetchall(), EVENT_COLUMNS))
    finally:
        cursor.close()
    return pd.concat(frames, ignore_index=True) if frames else _columnar([], EVENT_COLUMNS)


def refresh_owners(conn: Connection, tenant_id: int, owner_ids: list[str]) -> int:
    """Recompute every aggregate of these owners from their events; returns rows written."""
    owner_ids = sorted(set(owner_ids))
    for start in range(0, len(owner_ids), 500):
        chunk = owner_ids[start : start + 500]
        conn.execute(delete(_TABLE).where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id.in_(chunk)))
    events = read_events(conn, tenant_id, owner_ids)
    if events.empty:
        return 0
    rows = _rows(tenant_id, states_from_events(events))
    for start in range(0, len(rows), 5000):
        conn.execute(_TABLE.insert(), rows[start : start + 5000])
    return len(rows)


def load_states(conn: Connection, tenant_id: int, pairs: pd.DataFrame) -> PairStates:
    """Stored states of ``pairs`` in their order; pairs without a row get the empty state."""
    keys = list(pairs[[OWNER_ID, CONTACT_ID]].itertuples(index=False, name=None))
    found: dict[tuple[str, str], object] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        query = select(_TABLE).where(_TABLE.c.tenant_id == tenant_id,
                                     tuple_(_TABLE.c.owner_id, _TABLE.c.contact_id).in_(chunk))
        found.update({(r.owner_id, r.contact_id): r for r in conn.execute(query)})
    return _states_of(pairs.reset_index(drop=True), [found.get(k) for k in keys])


def load_owner_states(conn: Connection, tenant_id: int, owner_id: str) -> PairStates:
    """Every stored state of one owner (the recommend path: one indexed range read)."""
    query = select(_TABLE).where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id == owner_id)
    rows = conn.execute(query).all()
    pairs = pd.DataFrame({OWNER_ID: pd.Series([r.owner_id for r in rows], dtype=object),
                          CONTACT_ID: pd.Series([r.contact_id for r in rows], dtype=object)})
    return _states_of(pairs, rows)


def _states_of(pairs: pd.DataFrame, rows: list) -> PairStates:
    scalars = {f: np.array([np.nan if r is None or getattr(r, f) is None else getattr(r, f) for r in rows],
                           dtype=float) for f in SCALAR_FIELDS}
    for f in ("n_total", "n_in", "n_out", "n_give", "n_ask", "n_success", "warm_7", "warm_30", "warm_180"):
        scalars[f] = np.nan_to_num(scalars[f])
    return PairStates(pairs, scalars, decode_recent([b"" if r is None else r.recent for r in rows]))


def fold_events(conn: Connection, tenant_id: int, events: pd.DataFrame) -> int:
    """Merge newly inserted events into their pairs' stored states (late events included)."""
    if events.empty:
        return 0
    batch = states_from_events(events)
    stored = load_states(conn, tenant_id, batch.pairs)
    scalars = merge_scalars(stored.scalars, batch.scalars)
    n = len(batch.pairs)
    union = EventArrays.build(
        np.concatenate([stored.recent.pair, batch.recent.pair]),
        np.concatenate([stored.recent.ts, batch.recent.ts]),
        np.concatenate([stored.recent.type_code, batch.recent.type_code]),
        np.concatenate([stored.recent.dir_code, batch.recent.dir_code]),
        np.concatenate([stored.recent.useful, batch.recent.useful]),
    )
    merged = PairStates(batch.pairs, scalars, prune_recent(union, scalars["last_ts"]))
    keys = list(batch.pairs.itertuples(index=False, name=None))
    for start in range(0, n, 400):
        conn.execute(delete(_TABLE).where(_TABLE.c.tenant_id == tenant_id,
                                          tuple_(_TABLE.c.owner_id, _TABLE.c.contact_id).in_(keys[start:start + 400])))
    conn.execute(_TABLE.insert(), _rows(tenant_id, merged))
    return n
