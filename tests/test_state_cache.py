"""Held pair states brought up to date by the changed rows equal a fresh read of all of them.

``introrank.service.serving.state_cache`` keeps an owner's decoded states per
process and, when the owner's ``state_revision`` moved, re-reads only the rows
written since (``pair_aggregates.state_revision``) and splices them in. After
random sequences of event batches (in order, late, first events of a contact),
feedback (judged intros recompute the owner, ``intro_made`` adds an event),
contact erasure and edits, imports (folded, and recomputed when they carry
duplicates), owner erasure and re-creation, the held states equal
``load_owner_states``, array for array, in two caches that read at different
times (two processes), on SQLite and PostgreSQL, and over HTTP with two app
instances sharing one database.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine

from introrank.model.aggregates import SCALAR_FIELDS
from introrank.service.schemas import ContactItem, EventIn, FeedbackIn, OwnerUpsert
from introrank.service.serving.candidates import candidate_features, load_owner_record, owner_profile
from introrank.service.serving.state_cache import StateCache, in_contact_order
from introrank.service.settings import Settings
from introrank.service.store import writes
from introrank.service.store.aggregates import PairStates, load_owner_states
from introrank.service.store.csv_import.pipeline import import_csvs
from introrank.service.store.engine import get_or_create_tenant, raw_cursor, write_connection
from introrank.service.store.keys import create_api_key

TENANT = "held"
OWNERS = ("o1", "o2")
N_CONTACTS = 24
TYPES = ("touch", "message", "meeting", "give", "ask", "intro", "referral")
NOW = datetime.now(UTC).replace(microsecond=0)
EVENT_FIELDS = ["event_id", "owner_id", "contact_id", "occurred_at", "type", "direction", "useful"]


def assert_states_equal(held: PairStates, fresh: PairStates) -> None:
    fresh = in_contact_order(fresh)
    assert held.pairs["contact_id"].tolist() == fresh.pairs["contact_id"].tolist()
    assert held.pairs["owner_id"].tolist() == fresh.pairs["owner_id"].tolist()
    for name in SCALAR_FIELDS:
        np.testing.assert_array_equal(held.scalars[name], fresh.scalars[name], err_msg=name)
    for name in ("pair", "ts", "type_code", "dir_code", "useful"):
        got, want = getattr(held.recent, name), getattr(fresh.recent, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


class World:
    """Random writes to one tenant, through the store's own write functions and the import."""

    def __init__(self, engine: Engine, folder: Path, seed: int) -> None:
        self.engine, self.folder, self.rng = engine, folder, np.random.default_rng(seed)
        self.clock = (NOW - timedelta(days=300)).timestamp()
        self.serial = 0
        self.intros: list[tuple[str, str, str]] = []  # (owner, contact, event_id) of judgeable events
        self.contacts: dict[str, set[str]] = {}
        with write_connection(engine) as conn:
            self.tenant_id = get_or_create_tenant(conn, TENANT)
        for owner in OWNERS:
            self.create_owner(owner)

    def create_owner(self, owner: str) -> None:
        with write_connection(self.engine) as conn:
            writes.upsert_owner(conn, self.tenant_id, owner, OwnerUpsert(goal="job_search", career_stage=2))
            ids = [f"c{i:02d}" for i in range(N_CONTACTS)]
            writes.upsert_contacts(conn, self.tenant_id, owner, [ContactItem(contact_id=c, company=f"co{i % 5}")
                                                                 for i, c in enumerate(ids)])
        self.contacts[owner] = set(ids)
        self.intros = [i for i in self.intros if i[0] != owner]

    def _event(self, owner: str, late: bool) -> dict:
        self.serial += 1
        contact = sorted(self.contacts[owner])[int(self.rng.integers(0, len(self.contacts[owner])))]
        if late:
            at = self.clock - float(self.rng.random()) * 250 * 86400
        else:
            self.clock += float(self.rng.random()) * 86400
            at = self.clock
        kind = TYPES[int(self.rng.integers(0, len(TYPES)))]
        useful = [None, True, False][int(self.rng.integers(0, 3))] if kind in ("intro", "referral") else None
        event_id = f"e{self.serial}"
        if kind in ("intro", "referral"):
            self.intros.append((owner, contact, event_id))
        return {"event_id": event_id, "owner_id": owner, "contact_id": contact,
                "occurred_at": datetime.fromtimestamp(round(at, 3), UTC), "type": kind,
                "direction": "in" if self.rng.random() < 0.5 else "out", "useful": useful}

    def events(self, n: int, late: bool) -> list[dict]:
        """Mostly the first owner; the other one's events share batches with it."""
        return [self._event(OWNERS[int(self.rng.random() < 0.2)], late and bool(self.rng.random() < 0.7))
                for _ in range(n)]

    def step(self) -> str:
        """One random write; returns its name."""
        kind = str(self.rng.choice(["events", "events", "events", "late", "judge", "intro_made", "erase_contact",
                                    "edit_contact", "import", "import_duplicates", "recreate"],
                                   p=[0.2, 0.15, 0.1, 0.15, 0.07, 0.06, 0.05, 0.04, 0.08, 0.06, 0.04]))
        with write_connection(self.engine) as conn:
            if kind in ("events", "late"):
                batch = self.events(int(self.rng.integers(1, 25)), late=kind == "late")
                writes.insert_events(conn, self.tenant_id, [EventIn(**e) for e in batch])
            elif kind == "judge" and self.intros:
                owner, contact, event_id = self.intros[int(self.rng.integers(0, len(self.intros)))]
                writes.add_feedback(conn, self.tenant_id, FeedbackIn(
                    owner_id=owner, contact_id=contact, event_id=event_id,
                    outcome="useful" if self.rng.random() < 0.5 else "not_useful"))
            elif kind == "intro_made":
                contact = sorted(self.contacts["o1"])[int(self.rng.integers(0, len(self.contacts["o1"])))]
                writes.add_feedback(conn, self.tenant_id, FeedbackIn(
                    owner_id="o1", contact_id=contact, outcome="intro_made",
                    occurred_at=datetime.fromtimestamp(self.clock, UTC)))
            elif kind == "erase_contact" and len(self.contacts["o1"]) > 5:
                contact = sorted(self.contacts["o1"])[int(self.rng.integers(0, len(self.contacts["o1"])))]
                writes.delete_contact(conn, self.tenant_id, "o1", contact)
                self.contacts["o1"].discard(contact)
                self.intros = [i for i in self.intros if i[:2] != ("o1", contact)]
            elif kind == "edit_contact":
                contact = sorted(self.contacts["o1"])[0]
                writes.upsert_contacts(conn, self.tenant_id, "o1", [ContactItem(contact_id=contact, company="new")])
        if kind in ("import", "import_duplicates"):
            self.import_events(duplicates=kind == "import_duplicates")
        elif kind == "recreate":
            with write_connection(self.engine) as conn:
                writes.delete_owner(conn, self.tenant_id, "o1")
            self.create_owner("o1")
        return kind

    def import_events(self, duplicates: bool) -> None:
        rows = self.events(int(self.rng.integers(1, 30)), late=bool(self.rng.random() < 0.5))
        if duplicates:
            rows = rows + rows[: max(1, len(rows) // 3)]  # re-sent ids: the import recomputes the owners
        path = self.folder / f"events-{self.serial}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=EVENT_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "occurred_at": row["occurred_at"].isoformat(),
                                 "useful": "" if row["useful"] is None else str(row["useful"]).lower()})
        report = import_csvs(self.engine, TENANT, events=path)
        assert report is not None

    def revision_of_rows(self) -> dict[str, int]:
        """The highest pair revision per owner: never above the owner's own."""
        with self.engine.connect() as conn, raw_cursor(conn) as (cursor, mark):
            cursor.execute("SELECT p.owner_id, MAX(p.state_revision), MAX(o.state_revision) FROM pair_aggregates p "
                           f"JOIN owners o ON o.tenant_id = p.tenant_id AND o.owner_id = p.owner_id "
                           f"WHERE p.tenant_id = {mark} GROUP BY p.owner_id", [self.tenant_id])
            rows = cursor.fetchall()
        for owner, pairs_max, owner_revision in rows:
            assert pairs_max <= owner_revision, owner
        return {str(r[0]): int(r[1]) for r in rows}


def _check(world: World, cache: StateCache, owner_id: str) -> PairStates:
    with world.engine.connect() as conn:
        owner = load_owner_record(conn, world.tenant_id, owner_id)
        held = cache.states(conn, world.tenant_id, owner_id, owner.revisions)
        fresh = load_owner_states(conn, world.tenant_id, owner_id)
    assert_states_equal(held, fresh)
    return held


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_states_equal_a_fresh_read_after_random_writes(engine: Engine, tmp_path: Path, seed: int) -> None:
    world = World(engine, tmp_path, seed)
    every, sometimes = StateCache(), StateCache()  # two processes: one reads after every write, one now and then
    kinds: list[str] = []
    for step in range(60):
        if world.rng.random() < 0.15:  # an owner row read before a write, the rows after it: newer rows held
            with engine.connect() as conn:
                stale = load_owner_record(conn, world.tenant_id, "o1")
            kinds.append(world.step())
            with engine.connect() as conn:
                every.states(conn, world.tenant_id, "o1", stale.revisions)
        else:
            kinds.append(world.step())
        _check(world, every, "o1")
        _check(world, every, "o2")
        if step % 3 == 0 or world.rng.random() < 0.2:
            _check(world, sometimes, "o1")
        world.revision_of_rows()
    assert every.spliced > 10 and sometimes.spliced > 3, (every.spliced, sometimes.spliced, kinds)
    assert every.misses > 2  # erasures, edits and recomputes read everything again


def test_splicing_inserts_first_events_of_contacts_in_contact_order(engine: Engine, tmp_path: Path) -> None:
    world = World(engine, tmp_path, 7)
    cache = StateCache()
    ids = sorted(world.contacts["o1"])
    for contact in ids[::2] + ids[1::2]:  # every other contact first, then the ones between them
        with write_connection(engine) as conn:
            writes.insert_events(conn, world.tenant_id, [EventIn(
                event_id=f"first-{contact}", owner_id="o1", contact_id=contact,
                occurred_at=NOW - timedelta(days=3), type="message", direction="in")])
        held = _check(world, cache, "o1")
    assert held.pairs["contact_id"].tolist() == ids
    assert cache.misses == 1 and cache.spliced == len(ids) - 1


def test_held_states_make_the_same_features(engine: Engine, tmp_path: Path) -> None:
    """What the recommend path computes from held states is what it computes from a fresh read."""
    world = World(engine, tmp_path, 3)
    cache = StateCache()
    for _ in range(15):
        world.step()
        with engine.connect() as conn:
            owner = load_owner_record(conn, world.tenant_id, "o1")
            held = cache.states(conn, world.tenant_id, "o1", owner.revisions)
            fresh = load_owner_states(conn, world.tenant_id, "o1")
            frame = owner.frame()
            profile = owner_profile(conn, world.tenant_id, owner, None, None)
        at = NOW.timestamp()
        got, got_rows, _ = candidate_features(held, frame, None, at, None, profile)
        want, want_rows, _ = candidate_features(fresh, frame, None, at, None, profile)
        assert got.equals(want) and got_rows.equals(want_rows)


def _recommend(client: httpx.Client) -> None:
    response = client.get("/v1/owners/o1/recommendations", params={"k": 5})
    assert response.status_code == 200, response.text


def test_two_app_instances_hold_the_states_the_database_has(engine: Engine, model_store, live_app,
                                                            tmp_path: Path) -> None:
    """Writes through either instance (and an import beside them); each serves from held states equal
    to a fresh read, with the score cache off so every list is built from them."""
    settings = Settings(data_dir=model_store.data_dir, score_cache_seconds=0, profile_cache_seconds=3600)
    key = create_api_key(engine, TENANT, admin=True)
    world = World(engine, tmp_path, 5)
    apps = [live_app(settings, engine), live_app(settings, engine)]
    clients = [app.client(key) for app in apps]
    for step in range(40):
        client = clients[int(world.rng.integers(0, 2))]
        roll = world.rng.random()
        if roll < 0.5:
            batch = world.events(int(world.rng.integers(1, 20)), late=bool(world.rng.random() < 0.3))
            body = {"events": [{**e, "occurred_at": e["occurred_at"].isoformat()} for e in batch]}
            client.post("/v1/events", json=body).raise_for_status()
        elif roll < 0.6 and world.intros:
            owner, contact, event_id = world.intros[int(world.rng.integers(0, len(world.intros)))]
            client.post("/v1/feedback", json={"owner_id": owner, "contact_id": contact, "event_id": event_id,
                                              "outcome": "not_useful"}).raise_for_status()
        elif roll < 0.67 and len(world.contacts["o1"]) > 5:
            contact = sorted(world.contacts["o1"])[-1]
            client.delete(f"/v1/owners/o1/contacts/{contact}").raise_for_status()
            world.contacts["o1"].discard(contact)
            world.intros = [i for i in world.intros if i[:2] != ("o1", contact)]
        elif roll < 0.75:
            world.import_events(duplicates=bool(world.rng.random() < 0.4))
        for at in range(2) if step % 2 else [int(world.rng.integers(0, 2))]:
            _recommend(clients[at])
            held = apps[at].app.state.states.held((world.tenant_id, "o1"))
            assert held is not None
            with engine.connect() as conn:
                assert_states_equal(held[1].states, load_owner_states(conn, world.tenant_id, "o1"))
    assert all(app.app.state.states.spliced > 3 for app in apps), [a.app.state.states.spliced for a in apps]
