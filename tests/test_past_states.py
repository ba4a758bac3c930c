"""A backtest's pair states (``states_as_of``) equal a full replay of the stored events, at many times.

``states_as_of`` takes a pair's stored aggregate when nothing happened with it since
``as_of``, rebuilds it from its stored recent blob when the blob holds all its
events, and replays only the rest from the events table. The reference is
``replay_states``: every stored event before ``as_of`` through ``states_from_events``.
The store is written by the real fold (``insert_events``, batches in time order and
late ones), with pairs whose history spans years (the blob misses old events),
pairs that began recently, single-event pairs and equal timestamps; ``as_of`` runs
over times before any event, inside, at exactly stored event times, a window's
length before a pair's last event, and after everything.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Engine

from introrank.model.aggregates import COUNT_FIELDS, RECENT_DAYS, SCALAR_FIELDS, TIME_FIELDS, WARMTH_FIELDS
from introrank.model.events import SECONDS_PER_DAY, EventArrays
from introrank.service.schemas import ContactItem, EventIn, OwnerUpsert
from introrank.service.serving.candidates import (
    candidate_features,
    load_contacts,
    load_owner,
    load_owner_record,
    owner_states,
    replay_states,
    states_as_of,
)
from introrank.service.serving.state_cache import StateCache
from introrank.service.store import writes
from introrank.service.store.aggregates import PairStates, load_owner_states
from introrank.service.store.engine import get_or_create_tenant, write_connection
from introrank.service.store.past_states import pair_sources

DAY = SECONDS_PER_DAY
TYPES = ("touch", "message", "meeting", "give", "ask", "intro", "referral")
START = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
OWNERS = ("o0", "o1")
N_CONTACTS = 10


def _events(rng: np.random.Generator, prefix: str, times: np.ndarray, contacts: np.ndarray,
            owners: np.ndarray) -> list[EventIn]:
    useful = rng.choice(np.array([None, True, False], dtype=object), len(times))
    return [EventIn(event_id=f"{prefix}-{i}", owner_id=OWNERS[int(owners[i])], contact_id=f"c{int(contacts[i])}",
                    occurred_at=datetime.fromtimestamp(float(t), UTC), type=TYPES[int(rng.integers(0, 7))],
                    direction="in" if rng.random() < 0.5 else "out", useful=useful[i])
            for i, t in enumerate(times)]


def _batches(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(times, contacts) per batch. c0-c3: three years of history (the blob misses old events);
    c4-c6: the last 200 days only; c7: one event; c8-c9: a burst of equal timestamps."""
    end = START + 3 * 365 * DAY
    out = []
    for b in range(14):
        n = int(rng.integers(5, 30))
        late = b % 4 == 3
        lo = START + (end - START) * (0 if late else b / 14)
        hi = START + (end - START) * (b + 1) / 14
        times = np.sort(lo + rng.random(n) * (hi - lo))
        contacts = rng.integers(0, 4, n)
        if b >= 9:  # the recent pairs start late in the stream
            recent = rng.random(n) < 0.5
            contacts[recent] = rng.integers(4, 7, int(recent.sum()))
        times[: n // 5] = times[0]  # equal timestamps inside a batch
        out.append((np.round(times, 3), contacts))
    tie = np.round(end - 40 * DAY, 3)
    out.append((np.array([end - 100 * DAY, tie, tie, tie, tie, tie]).round(3), np.array([7, 8, 8, 9, 9, 8])))
    out.append((np.array([tie, tie - 1.0, end - 10 * DAY]), np.array([8, 9, 4])))  # late ties, then newer
    return out


@pytest.fixture
def store(engine: Engine) -> tuple[Engine, int]:
    rng = np.random.default_rng(3)
    with write_connection(engine) as conn:
        tenant_id = get_or_create_tenant(conn, "past")
        for owner in OWNERS:
            writes.upsert_owner(conn, tenant_id, owner, OwnerUpsert(goal="job_search"))
            writes.upsert_contacts(conn, tenant_id, owner, [ContactItem(contact_id=f"c{i}") for i in range(N_CONTACTS)])
    for b, (times, contacts) in enumerate(_batches(rng)):
        owners = rng.integers(0, 2, len(times))
        with write_connection(engine) as conn:
            writes.insert_events(conn, tenant_id, _events(rng, f"b{b}", times, contacts, owners))
    return engine, tenant_id


def _canonical(recent: EventArrays) -> np.ndarray:
    """The events as rows sorted within equal (pair, time): the order of ties is the store's choice."""
    rows = np.column_stack([recent.pair, recent.ts, recent.type_code, recent.dir_code,
                            np.nan_to_num(recent.useful, nan=-1)])
    return rows[np.lexsort(rows.T[::-1])]


def _assert_equal(got: PairStates, want: PairStates, where: str) -> None:
    got_ids, want_ids = got.pairs["contact_id"].tolist(), want.pairs["contact_id"].tolist()
    assert sorted(got_ids) == sorted(want_ids), where
    # The same pairs in one order (contact id) on both sides, events renumbered with them.
    def ordered(states: PairStates) -> PairStates:
        order = np.argsort(states.pairs["contact_id"].to_numpy(object), kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        r = states.recent
        return PairStates(states.pairs.iloc[order].reset_index(drop=True),
                          {k: v[order] for k, v in states.scalars.items()},
                          EventArrays.build(inverse[r.pair], r.ts, r.type_code, r.dir_code, r.useful))
    got, want = ordered(got), ordered(want)
    for field in TIME_FIELDS + COUNT_FIELDS:  # max, min and counts: exact
        np.testing.assert_array_equal(got.scalars[field], want.scalars[field], err_msg=f"{where} {field}")
    for field in WARMTH_FIELDS:  # a stored (folded) sum is rebased: equal to rounding
        np.testing.assert_allclose(got.scalars[field], want.scalars[field], rtol=1e-9, atol=0,
                                   err_msg=f"{where} {field}")
    assert set(SCALAR_FIELDS) == set(got.scalars)
    np.testing.assert_array_equal(_canonical(got.recent), _canonical(want.recent), err_msg=f"{where} recent")


def _times(states: PairStates) -> list[float]:
    """as_of points: before anything, every stored event time (recent events), a window before
    each pair's last event (and just either side), midpoints, after everything."""
    ts = np.unique(states.recent.ts)
    last = states.scalars["last_ts"]
    first = states.scalars["first_ts"]
    window = last - RECENT_DAYS * DAY
    points = [float(np.nanmin(first)) - DAY, float(np.nanmin(first)), float(np.nanmax(last)) + 1.0,
              float(np.nanmax(last)), *ts.tolist(), *window.tolist(), *(window + 0.5).tolist(),
              *(window - 0.5).tolist(), *((ts[1:] + ts[:-1]) / 2).tolist(), *first.tolist()]
    return sorted(set(points))


def test_states_as_of_equal_a_full_replay_at_every_kind_of_time(store) -> None:  # noqa: ANN001
    engine, tenant_id = store
    seen = {"kept": 0, "from_blob": 0, "replayed": 0, "dropped": 0}
    with engine.connect() as conn:
        for owner_id in OWNERS:
            stored = load_owner_states(conn, tenant_id, owner_id)
            assert np.nanmax(stored.scalars["last_ts"] - stored.scalars["first_ts"]) > 2 * RECENT_DAYS * DAY
            owner, contacts = load_owner(conn, tenant_id, owner_id), load_contacts(conn, tenant_id, owner_id)
            points = _times(stored)
            assert len(points) > 100
            for at in points:
                where = f"{owner_id} as_of={at!r}"
                got, want = states_as_of(conn, tenant_id, owner_id, at), replay_states(conn, tenant_id, owner_id, at)
                _assert_equal(got, want, where)
                changed, whole = pair_sources(stored, at)
                seen["kept"] += int((~changed).sum())
                seen["from_blob"] += int(whole.sum())
                seen["replayed"] += int((changed & ~whole).sum())
                seen["dropped"] += len(stored.pairs) - len(want.pairs)
                if len(want.pairs):
                    f_got, rows_got, _ = candidate_features(got, owner, contacts, at, None)
                    f_want, rows_want, _ = candidate_features(want, owner, contacts, at, None)
                    assert rows_got["contact_id"].tolist() == rows_want["contact_id"].tolist(), where
                    np.testing.assert_allclose(f_got.to_numpy(), f_want.to_numpy(), rtol=1e-9, atol=1e-9,
                                               err_msg=where)
    assert min(seen.values()) > 20, seen  # every source of a state, and pairs not yet begun, ran



def test_a_backtest_from_the_held_states_equals_one_that_reads_them_and_leaves_them_as_they_were(store) -> None:  # noqa: ANN001
    """The server passes its states cache's decoded states (``stored=``), shared with live requests:
    the backtest must equal the one that reads the stored rows itself, and must not write into them."""
    engine, tenant_id = store
    cache = StateCache()
    with engine.connect() as conn:
        for owner_id in OWNERS:
            held = owner_states(conn, tenant_id, load_owner_record(conn, tenant_id, owner_id), cache)
            before = PairStates(held.pairs.copy(), {k: v.copy() for k, v in held.scalars.items()},
                                held.recent.take(np.ones(len(held.recent.ts), bool)))
            points = _times(held)
            for at in points[:: max(1, len(points) // 40)]:
                where = f"{owner_id} as_of={at!r}"
                _assert_equal(states_as_of(conn, tenant_id, owner_id, at, held),
                              states_as_of(conn, tenant_id, owner_id, at), where)
            _assert_equal(held, before, f"{owner_id} held states after the backtests")
            for k, v in before.scalars.items():  # bit for bit, not only to rounding
                np.testing.assert_array_equal(held.scalars[k], v, err_msg=k)
