"""The appending fold equals recomputing every touched pair from all its events, byte for byte.

``fold_events`` keeps a pair's stored recent events as bytes and appends the new
ones when none of them is older than the pair's last stored event, cutting the
prefix that left the window; pairs with late events are decoded, merged and
re-encoded. Random streams in time order, late, with ties at the stored last
time and spans longer than the window exercise every branch against the
reference (``states_from_events`` over all stored events, what ``refresh_owners``
writes).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from introrank.model.aggregates import RECENT_DAYS, SCALAR_FIELDS, encode_recent_by_pair
from introrank.model.events import SECONDS_PER_DAY
from introrank.service.schemas import ContactItem, EventIn, OwnerUpsert
from introrank.service.store import writes
from introrank.service.store.aggregates import read_events, states_from_events
from introrank.service.store.engine import get_or_create_tenant, raw_cursor, write_connection

DAY = SECONDS_PER_DAY
TYPES = ("touch", "message", "meeting", "give", "ask", "intro", "referral")
START = datetime(2015, 1, 1, tzinfo=UTC).timestamp()


def _stored(conn, tenant_id: int) -> dict[tuple[str, str], tuple]:  # noqa: ANN001
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"SELECT owner_id, contact_id, recent, {', '.join(SCALAR_FIELDS)} FROM pair_aggregates "
                       f"WHERE tenant_id = {mark}", [tenant_id])
        return {(r[0], r[1]): (bytes(r[2]), r[3:]) for r in cursor.fetchall()}


def _reference(conn, tenant_id: int, owners: list[str]) -> dict[tuple[str, str], tuple]:  # noqa: ANN001
    states = states_from_events(read_events(conn, tenant_id, owners))
    blobs = encode_recent_by_pair(states.recent, len(states.pairs))
    keys = zip(states.pairs["owner_id"].tolist(), states.pairs["contact_id"].tolist(), strict=True)
    return {key: (blob, tuple(float(states.scalars[f][i]) for f in SCALAR_FIELDS))
            for i, (key, blob) in enumerate(zip(keys, blobs, strict=True))}


def _batch(rng: np.random.Generator, times: np.ndarray, prefix: str, n_contacts: int) -> list[EventIn]:
    contacts = rng.integers(0, n_contacts, len(times))
    owners = rng.integers(0, 2, len(times))
    useful = rng.choice(np.array([None, True, False], dtype=object), len(times))
    return [EventIn(event_id=f"{prefix}-{i}", owner_id=f"o{owners[i]}", contact_id=f"c{contacts[i]}",
                    occurred_at=datetime.fromtimestamp(float(t), UTC), type=TYPES[int(rng.integers(0, 7))],
                    direction="in" if rng.random() < 0.5 else "out", useful=useful[i])
            for i, t in enumerate(times)]


def _stream(rng: np.random.Generator, kind: str, n_batches: int) -> list[np.ndarray]:
    """Event times per batch: ``in_order`` (each batch after the last, with repeats of the
    previous batch's last time), ``late`` (anywhere in the past), ``mixed``."""
    out, now = [], START
    for b in range(n_batches):
        n = int(rng.integers(1, 40))
        if kind == "in_order" or (kind == "mixed" and b % 3):
            # steps of up to 200 days: with a 365-day window, stored prefixes fall out
            times = now + np.sort(rng.random(n)) * rng.choice([1.0, 30.0, 200.0]) * DAY
            times[: n // 4] = now  # ties with the newest stored time
            now = float(times.max())
        else:
            times = START + rng.random(n) * max(now - START, DAY)
        out.append(np.round(times, 3))
    return out


@pytest.mark.parametrize("kind", ["in_order", "late", "mixed"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fold_equals_recomputing_from_all_events(engine, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_contacts = 6
    with write_connection(engine) as conn:
        tenant_id = get_or_create_tenant(conn, "fold")
        for owner in ("o0", "o1"):
            writes.upsert_owner(conn, tenant_id, owner, OwnerUpsert(goal="job_search"))
            writes.upsert_contacts(conn, tenant_id, owner, [ContactItem(contact_id=f"c{i}")
                                                            for i in range(n_contacts)])
    for b, times in enumerate(_stream(rng, kind, 12)):
        with write_connection(engine) as conn:
            writes.insert_events(conn, tenant_id, _batch(rng, times, f"{kind}{b}", n_contacts))
        with engine.connect() as conn:
            stored, want = _stored(conn, tenant_id), _reference(conn, tenant_id, ["o0", "o1"])
        assert stored.keys() == want.keys()
        for key, (blob, scalars) in want.items():
            assert stored[key][0] == blob, (kind, b, key)
            np.testing.assert_allclose(np.array(stored[key][1], dtype=float), np.array(scalars), rtol=1e-9,
                                       equal_nan=True, err_msg=f"{kind} batch {b} {key}")


def test_streams_reach_every_branch_of_the_fold() -> None:
    """The streams above do cut stored prefixes and do tie with the stored last time."""
    rng = np.random.default_rng(0)
    batches = _stream(rng, "in_order", 12)
    assert max(float(b.max()) for b in batches) - START > 2 * RECENT_DAYS * DAY
    assert any(float(b.min()) == float(a.max()) for a, b in zip(batches, batches[1:], strict=False))


def _write_events_csv(path, rng: np.random.Generator, times: np.ndarray, prefix: str, n_contacts: int,  # noqa: ANN001
                      reuse: list[str] = ()) -> None:
    rows = ["event_id,owner_id,contact_id,occurred_at,type,direction,useful"]
    for i, t in enumerate(times):
        stamp = datetime.fromtimestamp(float(t), UTC).isoformat()
        rows.append(f"{prefix}{i},o{int(rng.integers(0, 2))},c{int(rng.integers(0, n_contacts))},{stamp},"
                    f"{TYPES[int(rng.integers(0, 7))]},{'in' if rng.random() < 0.5 else 'out'},"
                    f"{rng.choice(['', 'true', 'false'])}")
    rows += [f"{event_id},o0,c0,2016-01-01T00:00:00+00:00,touch,out," for event_id in reuse]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("seed", [0, 1])
def test_import_fold_equals_recomputing_from_all_events(engine, tmp_path, seed: int) -> None:
    """``introrank import`` folds a file whose rows all went in and recomputes otherwise:
    a first import, a later one with late and newer events (fold), one with duplicates
    (refresh), all equal to recomputing from every stored event."""
    from introrank.service.store.csv_import import import_csvs

    rng = np.random.default_rng(seed)
    n_contacts = 8
    with write_connection(engine) as conn:
        tenant_id = get_or_create_tenant(conn, "imp")
        for owner in ("o0", "o1"):
            writes.upsert_owner(conn, tenant_id, owner, OwnerUpsert(goal="job_search"))
            writes.upsert_contacts(conn, tenant_id, owner, [ContactItem(contact_id=f"c{i}")
                                                            for i in range(n_contacts)])
    span = 3 * RECENT_DAYS * DAY
    files = [(np.sort(START + rng.random(300) * span), ()),  # first import, in time order
             (START + rng.random(200) * span * 1.2, ()),  # late and newer, shuffled
             (START + span + rng.random(100) * DAY * 30, ("f0-1", "f0-2"))]  # two ids already stored
    for n, (times, reuse) in enumerate(files):
        events = tmp_path / f"events{n}.csv"
        _write_events_csv(events, rng, np.round(times, 3), f"f{n}-", n_contacts, reuse)
        report = import_csvs(engine, "imp", events=events)
        assert report.events.inserted == len(times) and report.events.duplicates == len(reuse)
        with engine.connect() as conn:
            stored, want = _stored(conn, tenant_id), _reference(conn, tenant_id, ["o0", "o1"])
        assert stored.keys() == want.keys()
        for key, (blob, scalars) in want.items():
            assert stored[key][0] == blob, (n, key)
            np.testing.assert_allclose(np.array(stored[key][1], dtype=float), np.array(scalars), rtol=1e-9,
                                       equal_nan=True, err_msg=f"file {n} {key}")
