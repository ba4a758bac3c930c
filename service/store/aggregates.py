"""Keeping ``pair_aggregates`` equal to what the events say, in the events' transaction.

Two writers, one definition: the events endpoint, and an import whose rows all
went in, fold the new events into the stored rows with
``introrank.model.aggregates.merge_scalars`` (``fold_events``); an import with
duplicates and feedback that flips an event recompute the touched owners' rows
from all their events (``refresh_owners``). Both use the model's own aggregate
code; ``tests/test_fold.py`` holds the fold equal to the recompute and the parity
test holds them to the offline features.

Every function here that writes first locks the owners it touches
(``introrank.service.store.concurrency.lock_owners``) and upserts pairs sorted,
so concurrent folds of one owner run one after another and never lose an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, select

from introrank.model.aggregates import (
    RECENT_DAYS,
    RECENT_ITEMSIZE,
    SCALAR_FIELDS,
    Scalars,
    decode_recent,
    encode_recent_by_pair,
    first_recent_time,
    merge_scalars,
    pair_scalars,
    prune_recent,
    recent_times,
)
from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.events import SECONDS_PER_DAY, EventArrays, encode_directions, encode_types, encode_useful
from introrank.service.store.concurrency import lock_owners
from introrank.service.store.engine import raw_cursor
from introrank.service.store.tables import PairAggregate, utc_now

_TABLE = PairAggregate.__table__


@dataclass
class PairStates:
    """Aggregates of several pairs as arrays (row i = pairs.iloc[i])."""

    pairs: pd.DataFrame  # owner_id, contact_id
    scalars: dict[str, np.ndarray]
    recent: EventArrays


def take_states(states: PairStates, rows: np.ndarray) -> PairStates:
    """The states of ``rows`` (ascending), their recent events renumbered and still in (pair, ts) order."""
    remap = np.full(len(states.pairs), -1, dtype=np.int64)
    remap[rows] = np.arange(len(rows))
    recent = states.recent.take(remap[states.recent.pair] >= 0)
    recent = EventArrays(remap[recent.pair], recent.ts, recent.type_code, recent.dir_code, recent.useful)
    return PairStates(states.pairs.iloc[rows].reset_index(drop=True), {k: v[rows] for k, v in states.scalars.items()},
                      recent)


def _arrays(frame: pd.DataFrame, pair: np.ndarray) -> EventArrays:
    return EventArrays.build(pair, frame["occurred_at"].to_numpy(float), encode_types(frame["type"].to_numpy()),
                             encode_directions(frame["direction"].to_numpy()),
                             encode_useful(frame["useful"], len(frame)))


def states_from_events(events: pd.DataFrame) -> PairStates:
    """States of every pair present in ``events`` (columns as the events table)."""
    # Factorized as stored (Arrow strings from an import stay Arrow: no million Python strings).
    owner_code, owners = pd.factorize(events[OWNER_ID])
    contact_code, contacts = pd.factorize(events[CONTACT_ID])
    owners, contacts = np.asarray(owners, dtype=object), np.asarray(contacts, dtype=object)
    n_contacts = max(len(contacts), 1)
    codes, first_seen = pd.factorize(owner_code.astype(np.int64) * n_contacts + contact_code)
    pairs = pd.DataFrame({OWNER_ID: pd.Series(owners[first_seen // n_contacts], dtype=object),
                          CONTACT_ID: pd.Series(contacts[first_seen % n_contacts], dtype=object)})
    arrays = _arrays(events, codes)
    scalars = pair_scalars(arrays, len(pairs))
    return PairStates(pairs, scalars, prune_recent(arrays, scalars["last_ts"]))


_WRITE_COLUMNS = ["tenant_id", "owner_id", "contact_id", "updated_at", "recent", "unanswered_impressions",
                  "state_revision", *SCALAR_FIELDS]
_KEYS = ("tenant_id", "owner_id", "contact_id")


def _nullable(values: np.ndarray) -> list:
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


def _rows(conn: Connection, tenant_id: int, pairs: pd.DataFrame, scalars: Scalars, blobs: list[bytes],
          revisions: dict[str, int], kept: dict[tuple[str, str], int] | None = None) -> list[tuple]:
    """Row tuples for the upsert, built column-wise.

    ``revisions``: each owner's new ``state_revision`` (``bump_state_revision``), which
    every row written here carries. Unanswered impressions: ``kept`` (owner_id,
    contact_id) -> counter carries counters over; every other pair starts at 0 (its
    new events answered them).
    """
    now = utc_now()
    # SQLite keeps SQLAlchemy's naive-UTC text form; PostgreSQL takes the aware datetime.
    stamp = now.replace(tzinfo=None).isoformat(sep=" ") if conn.dialect.name == "sqlite" else now
    n = len(blobs)
    owners, contacts = pairs[OWNER_ID].tolist(), pairs[CONTACT_ID].tolist()
    shown = [0] * n if not kept else [kept.get(pair, 0) for pair in zip(owners, contacts, strict=True)]
    columns = [[tenant_id] * n, owners, contacts, [stamp] * n, blobs, shown, [revisions[o] for o in owners],
               *(_nullable(scalars[f]) for f in SCALAR_FIELDS)]
    return list(zip(*columns, strict=True))


def _upsert(conn: Connection, rows: list[tuple], keep_impressions: bool = False) -> None:
    """INSERT ... ON CONFLICT DO UPDATE on the raw cursor (same SQL on SQLite and PostgreSQL).

    Rows go in sorted by (owner, contact): a fixed order of row locks for any writer that
    got past the owner locks some other way. ``keep_impressions``: a stored row keeps its
    unanswered-impression counter (new rows start at the row's value).
    """
    if not rows:
        return
    rows = sorted(rows, key=lambda r: (r[1], r[2]))
    kept = (*_KEYS, "unanswered_impressions") if keep_impressions else _KEYS
    updates = ", ".join(f"{c} = excluded.{c}" for c in _WRITE_COLUMNS if c not in kept)
    with raw_cursor(conn) as (cursor, mark):
        values = ", ".join([mark] * len(_WRITE_COLUMNS))
        cursor.executemany(f"INSERT INTO pair_aggregates ({', '.join(_WRITE_COLUMNS)}) VALUES ({values}) "
                           f"ON CONFLICT ({', '.join(_KEYS)}) DO UPDATE SET {updates}", rows)


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
    frames = []
    with raw_cursor(conn) as (cursor, mark):
        for start in range(0, len(owner_ids), 500):
            chunk = owner_ids[start : start + 500]
            sql = (f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE tenant_id = {mark} "
                   f"AND owner_id IN ({', '.join([mark] * len(chunk))})")
            cursor.execute(sql, [tenant_id, *chunk])
            frames.append(_columnar(cursor.fetchall(), EVENT_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else _columnar([], EVENT_COLUMNS)


def read_owner_events(conn: Connection, tenant_id: int, owner_id: str, before: float) -> pd.DataFrame:
    """One owner's events strictly before ``before``, in (contact, time) order: the full replay.

    One raw read along the (tenant, owner, contact, occurred_at) index.
    """
    sql = (f"SELECT {', '.join(EVENT_COLUMNS)} FROM events "
           "WHERE tenant_id = {m} AND owner_id = {m} AND occurred_at < {m}")
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(sql.format(m=mark) + " ORDER BY contact_id, occurred_at", [tenant_id, owner_id, before])
        return _columnar(cursor.fetchall(), EVENT_COLUMNS)


def bump_state_revision(conn: Connection, tenant_id: int, owner_ids: list[str], *,
                        reset: bool = False) -> dict[str, int]:
    """Tell every cache that these owners' aggregates changed (same transaction as the change).

    Returns each owner's new revision, which the rows written with it carry
    (``pair_aggregates.state_revision``: a holder of the states at R re-reads the rows
    above R). The owner rows are locked (``lock_owners``) before this, so the revision
    order is the commit order of the owner's writers. ``reset``: every row of these
    owners is rewritten, some maybe dropped (``owners.states_reset_revision``).
    """
    reset_sql = ", states_reset_revision = state_revision + 1" if reset else ""
    revisions: dict[str, int] = {}
    with raw_cursor(conn) as (cursor, mark):
        for start in range(0, len(owner_ids), 500):
            chunk = owner_ids[start : start + 500]
            cursor.execute(f"UPDATE owners SET state_revision = state_revision + 1{reset_sql} WHERE tenant_id = "
                           f"{mark} AND owner_id IN ({', '.join([mark] * len(chunk))}) "
                           "RETURNING owner_id, state_revision", [tenant_id, *chunk])
            revisions.update((str(o), int(r)) for o, r in cursor.fetchall())
    return revisions


def refresh_owners(conn: Connection, tenant_id: int, owner_ids: list[str]) -> int:
    """Recompute every aggregate of these owners from their events; returns rows written.

    Unanswered-impression counters survive the rewrite: a recompute is not something
    happening with a contact (the callers answer the pairs that did, see
    ``introrank.service.store.impressions``).
    """
    owner_ids = sorted(set(owner_ids))
    lock_owners(conn, tenant_id, owner_ids)
    revisions = bump_state_revision(conn, tenant_id, owner_ids, reset=True)
    kept: dict[tuple[str, str], int] = {}
    for start in range(0, len(owner_ids), 500):
        chunk = owner_ids[start : start + 500]
        shown = select(_TABLE.c.owner_id, _TABLE.c.contact_id, _TABLE.c.unanswered_impressions).where(
            _TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id.in_(chunk), _TABLE.c.unanswered_impressions > 0)
        kept.update({(o, c): int(n) for o, c, n in conn.execute(shown)})
        conn.execute(delete(_TABLE).where(_TABLE.c.tenant_id == tenant_id, _TABLE.c.owner_id.in_(chunk)))
    events = read_events(conn, tenant_id, owner_ids)
    if events.empty:
        return 0
    states = states_from_events(events)
    rows = _rows(conn, tenant_id, states.pairs, states.scalars, encode_recent_by_pair(states.recent, len(states.pairs)),
                 revisions, kept)
    _upsert(conn, rows)
    return len(rows)


STATE_COLUMNS = [*SCALAR_FIELDS, "owner_id", "contact_id", "recent"]  # numbers first: one 2-D block
_ZERO_WHEN_EMPTY = ("n_total", "n_in", "n_out", "n_give", "n_ask", "n_success", "warm_7", "warm_30", "warm_180")
# What a NULL scalar reads as: the DBAPI turns NULL into None, which a float block cannot take in
# one conversion. No stored scalar comes near it (times are epoch seconds, the rest are >= 0).
_NULL = -1e300
_SELECT = ", ".join([*(f"COALESCE({f}, {_NULL!r})" for f in SCALAR_FIELDS), *STATE_COLUMNS[len(SCALAR_FIELDS):]])


def _fetch(conn: Connection, where: str, params: list, order: str = "") -> list[tuple]:
    """Raw DBAPI read inside the connection's transaction: the recommend path's hot loop."""
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"SELECT {_SELECT} FROM pair_aggregates WHERE {where.format(m=mark)}"
                       f"{order}", params)
        return cursor.fetchall()


def _states_of(rows: list[tuple]) -> PairStates:
    """Column-wise decode without per-row Python: the rows become one object block, sliced by column.

    The scalars (``_NULL`` for NULL) are one ``(n, len(SCALAR_FIELDS))`` float block, NULL
    times become NaN and NULL counts and sums 0; every blob is decoded in one ``frombuffer``.
    """
    width, n_scalars = len(STATE_COLUMNS), len(SCALAR_FIELDS)
    block = np.fromiter(chain.from_iterable(rows), dtype=object, count=len(rows) * width).reshape(len(rows), width)
    numbers = block[:, :n_scalars].astype(np.float64).T.copy()  # row i = field i, each contiguous
    null = numbers == _NULL
    numbers[null] = np.nan
    zero = [SCALAR_FIELDS.index(f) for f in _ZERO_WHEN_EMPTY]
    numbers[zero] = np.where(null[zero], 0.0, numbers[zero])
    pairs = pd.DataFrame({OWNER_ID: pd.Series(block[:, n_scalars], dtype=object),
                          CONTACT_ID: pd.Series(block[:, n_scalars + 1], dtype=object)})
    scalars = dict(zip(SCALAR_FIELDS, numbers, strict=True))
    return PairStates(pairs, scalars, decode_recent(block[:, n_scalars + 2].tolist()))


def load_owner_states(conn: Connection, tenant_id: int, owner_id: str) -> PairStates:
    """Every stored state of one owner (the recommend path: one indexed range read).

    In contact order, which the primary key gives for free; ``candidate_features``
    then finds its canonical order already there and skips re-ordering the events.
    """
    return _states_of(_fetch(conn, "tenant_id = {m} AND owner_id = {m}", [tenant_id, owner_id],
                             " ORDER BY contact_id"))


def load_owner_states_since(conn: Connection, tenant_id: int, owner_id: str, revision: int) -> PairStates:
    """The owner's stored states written after ``revision`` (``pair_aggregates.state_revision``), in
    contact order: what a holder of the states at ``revision`` lacks, unless rows were dropped since
    (``owners.states_reset_revision``). One read along ``ix_pair_aggregates_revision``."""
    rows = _fetch(conn, "tenant_id = {m} AND owner_id = {m} AND state_revision > {m}", [tenant_id, owner_id, revision])
    rows.sort(key=itemgetter(len(SCALAR_FIELDS) + 1))  # contact_id: the few changed rows, in Python's order
    return _states_of(rows)


def fold_events(conn: Connection, tenant_id: int, events: pd.DataFrame, *, keep_impressions: bool = False) -> int:
    """Merge newly inserted events into their pairs' stored states (late events included).

    The events endpoint answers the touched pairs' unanswered impressions in the same
    upsert; an import passes ``keep_impressions`` and answers them itself
    (``introrank.service.store.impressions.answer_received``), as after ``refresh_owners``.

    Scalars merge exactly (``merge_scalars``). Recent events: where a pair's new
    events are all at or after its stored last event (a CRM streaming what just
    happened), the stored blob stays bytes and the new events' bytes are
    appended, after cutting the stored events that fell out of the window
    (``appended_blobs``); only pairs that got late events are decoded, merged,
    sorted and re-encoded (``remerged_blobs``). ``tests/test_fold.py`` holds both
    equal, byte for byte, to recomputing every touched pair from all its events.
    """
    if events.empty:
        return 0
    lock_owners(conn, tenant_id, events[OWNER_ID].unique().tolist())  # before reading what it merges into
    batch = states_from_events(events)
    stored_scalars, stored_blobs = load_stored(conn, tenant_id, batch.pairs)
    scalars = merge_scalars(stored_scalars, batch.scalars)
    blobs = merged_blobs(stored_scalars["last_ts"], stored_blobs, batch, scalars["last_ts"])
    revisions = bump_state_revision(conn, tenant_id, sorted(batch.pairs[OWNER_ID].unique().tolist()))
    _upsert(conn, _rows(conn, tenant_id, batch.pairs, scalars, blobs, revisions), keep_impressions)
    return len(batch.pairs)


def load_stored(conn: Connection, tenant_id: int, pairs: pd.DataFrame) -> tuple[Scalars, list[bytes]]:
    """Stored scalars and recent-event blobs of ``pairs`` in their order, blobs left undecoded.

    Pairs without a row get the empty state (NaN times, zero counts, ``b""``).
    """
    owners, contacts = pairs[OWNER_ID].tolist(), pairs[CONTACT_ID].tolist()
    by_owner: dict[str, list[str]] = {}
    for owner_id, contact_id in zip(owners, contacts, strict=True):
        by_owner.setdefault(owner_id, []).append(contact_id)
    found: dict[tuple[str, str], tuple] = {}
    for owner_id, wanted in by_owner.items():
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            where = "tenant_id = {m} AND owner_id = {m} AND contact_id IN (" + ", ".join(["{m}"] * len(chunk)) + ")"
            found.update({(r[-3], r[-2]): r for r in _fetch(conn, where, [tenant_id, owner_id, *chunk])})
    n_scalars = len(SCALAR_FIELDS)
    empty = (_NULL,) * n_scalars + (None, None, b"")  # STATE_COLUMNS' order: the scalars, then keys and blob
    rows = [found.get(key, empty) for key in zip(owners, contacts, strict=True)]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(STATE_COLUMNS)
    scalars = {}
    for i, f in enumerate(SCALAR_FIELDS):
        values = np.array(columns[i], dtype=float)
        values[values == _NULL] = 0.0 if f in _ZERO_WHEN_EMPTY else np.nan
        scalars[f] = values
    return scalars, [bytes(b) for b in columns[n_scalars + 2]]


def merged_blobs(stored_last: np.ndarray, stored_blobs: list[bytes], batch: PairStates,
                 merged_last: np.ndarray) -> list[bytes]:
    """Each pair's recent events after the fold, as the blob ``encode_recent`` would write.

    A pair is appendable when it had nothing stored or none of its new events is
    older than its stored last event: the time order of stored-then-new is then
    already (pair, ts) order, ties included (the full merge sorts stably with the
    stored events first).
    """
    new_blobs = encode_recent_by_pair(batch.recent, len(batch.pairs))
    with np.errstate(invalid="ignore"):
        appendable = np.isnan(stored_last) | (batch.scalars["first_ts"] >= stored_last)
    out = appended_blobs(stored_blobs, new_blobs, merged_last, appendable)
    late = np.flatnonzero(~appendable)
    if len(late):
        for i, blob in zip(late.tolist(), remerged_blobs([stored_blobs[i] for i in late.tolist()],
                                                         batch.recent, late, merged_last[late]), strict=True):
            out[i] = blob
    return out


def appended_blobs(stored_blobs: list[bytes], new_blobs: list[bytes], merged_last: np.ndarray,
                   appendable: np.ndarray) -> list[bytes]:
    """Stored bytes minus the events now older than the window, then the new bytes (appendable pairs).

    Blobs are in time order, so the events that fall out of the window are a
    prefix: only a pair whose oldest stored event is out of it is looked into.
    Pairs that are not appendable get ``b""`` here (``remerged_blobs`` fills them).
    """
    cutoff = (merged_last - RECENT_DAYS * SECONDS_PER_DAY).tolist()
    out = []
    for stored, new, cut, ok in zip(stored_blobs, new_blobs, cutoff, appendable.tolist(), strict=True):
        if not ok:
            out.append(b"")
        elif not stored:
            out.append(new)
        elif first_recent_time(stored) >= cut:
            out.append(stored + new)
        else:
            kept = int(np.searchsorted(recent_times(stored), cut, side="left"))
            out.append(stored[kept * RECENT_ITEMSIZE :] + new)
    return out


def remerged_blobs(stored_blobs: list[bytes], batch_recent: EventArrays, pairs: np.ndarray,
                   merged_last: np.ndarray) -> list[bytes]:
    """Blobs of pairs that received late events: decode, merge with the new events, sort, prune, encode.

    ``pairs`` are the batch's pair indices of these blobs (ascending); the result
    is in the same order.
    """
    stored = decode_recent(stored_blobs)
    position = np.full(int(pairs.max()) + 1 if len(pairs) else 0, -1, dtype=np.int64)
    position[pairs] = np.arange(len(pairs))
    inside = batch_recent.pair < len(position)
    new = batch_recent.take(inside)
    new = new.take(position[new.pair] >= 0)
    union = EventArrays.build(
        np.concatenate([stored.pair, position[new.pair]]),
        np.concatenate([stored.ts, new.ts]),
        np.concatenate([stored.type_code, new.type_code]),
        np.concatenate([stored.dir_code, new.dir_code]),
        np.concatenate([stored.useful, new.useful]),
    )
    return encode_recent_by_pair(prune_recent(union, merged_last), len(pairs))
