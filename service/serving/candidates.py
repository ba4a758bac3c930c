"""An owner's candidates as the model's inputs: the owner row, the profiles, the pair states, the features.

The stored path reads the owner's aggregates, ``as_of`` takes the owner's states
before that time (``states_as_of``: the stored rows, exact where they suffice) and
the stateless scorer takes the request's events; all three end in
``candidate_features``, so they build the same matrix from the same data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from introrank.model.aggregates import window_stats
from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.events import EventArrays
from introrank.model.features import STATIC_FEATURES, assemble, dynamic_features, static_features
from introrank.service.errors import NotFoundError
from introrank.service.serving.profile_cache import Profile, ProfileCache
from introrank.service.serving.state_cache import OwnerRevisions, StateCache
from introrank.service.store.aggregates import PairStates, load_owner_states, read_owner_events, states_from_events
from introrank.service.store.engine import raw_cursor
from introrank.service.store.past_states import states_as_of
from introrank.service.store.tables import Contact, Owner

__all__ = ["states_as_of"]  # the backtest's states live with the store; serving imports them from here

CONTACT_COLUMNS = (Contact.contact_id, Contact.company, Contact.industry, Contact.title, Contact.career_stage,
                   Contact.mutual_connections, Contact.do_not_recommend)
OWNER_COLUMNS = (Owner.owner_id, Owner.incarnation, Owner.career_stage, Owner.industry, Owner.goal,
                 Owner.target_industries, Owner.target_companies, Owner.profile_revision, Owner.state_revision,
                 Owner.impression_revision, Owner.title, Owner.states_reset_revision)


@dataclass(frozen=True)
class OwnerRecord:
    """The owner row as plain values: a cached recommendation needs only the validity and the goal,
    and building a one-row DataFrame costs more than the rest of such a request."""

    owner_id: str
    incarnation: str
    career_stage: int | None
    industry: str | None
    goal: str
    target_industries: list[str]
    target_companies: list[str]
    profile_revision: int
    state_revision: int
    impression_revision: int = 0
    title: str | None = None  # read for the stage when career_stage is empty
    states_reset_revision: int = 0  # the last wholesale rewrite of the states (``state_cache``)

    @property
    def profile_validity(self) -> tuple[str, int]:
        """What a cached profile of this owner must have been built under."""
        return self.incarnation, self.profile_revision

    @property
    def revisions(self) -> OwnerRevisions:
        """What the held pair states of this owner are checked against."""
        return OwnerRevisions(self.incarnation, self.profile_revision, self.state_revision, self.states_reset_revision)

    def frame(self) -> pd.DataFrame:
        """The one-row frame the feature code takes (``introrank.model.features.static_features``)."""
        return pd.DataFrame({OWNER_ID: [self.owner_id], "incarnation": [self.incarnation],
                             "career_stage": [self.career_stage], "title": [self.title],
                             "industry": [self.industry], "goal": [self.goal],
                             "target_industries": [self.target_industries], "target_companies": [self.target_companies],
                             "profile_revision": [self.profile_revision], "state_revision": [self.state_revision]})


def load_owner_record(conn: Connection, tenant_id: int, owner_id: str) -> OwnerRecord:
    row = conn.execute(select(*OWNER_COLUMNS).where(Owner.tenant_id == tenant_id, Owner.owner_id == owner_id)).first()
    if row is None:
        raise NotFoundError("owner", owner_id)
    return OwnerRecord(row.owner_id, row.incarnation, row.career_stage, row.industry, row.goal,
                       list(row.target_industries or []), list(row.target_companies or []),
                       int(row.profile_revision), int(row.state_revision), int(row.impression_revision), row.title,
                       int(row.states_reset_revision))


def owner_states(conn: Connection, tenant_id: int, owner: OwnerRecord, cache: StateCache | None) -> PairStates:
    """The owner's stored pair states: read whole, or the held ones brought up to date (``state_cache``)."""
    if cache is None:
        return load_owner_states(conn, tenant_id, owner.owner_id)
    return cache.states(conn, tenant_id, owner.owner_id, owner.revisions)


def load_owner(conn: Connection, tenant_id: int, owner_id: str) -> pd.DataFrame:
    return load_owner_record(conn, tenant_id, owner_id).frame()


def load_contacts(conn: Connection, tenant_id: int, owner_id: str) -> pd.DataFrame:
    """The owner's contact rows, read on the raw cursor (SQLAlchemy's row processing cost ~3x the read).

    ``do_not_recommend`` comes back as bool (SQLite stores 0/1), as the ORM read gave it.
    """
    names = [c.key for c in CONTACT_COLUMNS]
    with raw_cursor(conn) as (cursor, mark):
        cursor.execute(f"SELECT {', '.join(names)} FROM contacts WHERE tenant_id = {mark} AND owner_id = {mark}",
                       [tenant_id, owner_id])
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=names)
    flags = frame["do_not_recommend"]
    if flags.dtype != bool:  # SQLite's 0/1 as the bools the ORM read gave (None stays None)
        frame["do_not_recommend"] = flags.astype(bool) if flags.notna().all() else \
            pd.Series([None if v is None else bool(v) for v in flags.tolist()], dtype=object)
    frame.insert(0, OWNER_ID, owner_id)
    return frame


def replay_states(conn: Connection, tenant_id: int, owner_id: str, before: float) -> PairStates:
    """The owner's pair states rebuilt from the stored events strictly before ``before``.

    The full replay is the reference ``states_as_of`` (``introrank.service.store.past_states``)
    is held equal to; backtests do not call it.
    """
    return states_from_events(read_owner_events(conn, tenant_id, owner_id, before))


def build_profile(owner: pd.DataFrame, contacts: pd.DataFrame, goal: str | None) -> Profile:
    """Every contact's row and static features, indexed by contact_id."""
    contacts = contacts.reset_index(drop=True)
    static = static_features(contacts[[OWNER_ID, CONTACT_ID]], owner, contacts, goal)
    return Profile(contacts, static[list(STATIC_FEATURES)].to_numpy(dtype=float), pd.Index(contacts[CONTACT_ID]),
                   time.time())


def owner_profile(conn: Connection, tenant_id: int, owner: OwnerRecord, goal: str | None,
                  cache: ProfileCache | None) -> Profile:
    """The owner's profile, from the cache when it was built under the owner's current revision
    (the owner's one-row frame is built only to build a profile)."""

    def build() -> Profile:
        return build_profile(owner.frame(), load_contacts(conn, tenant_id, owner.owner_id), goal)

    if cache is None:
        return build()
    return cache.get((tenant_id, owner.owner_id, goal), owner.profile_validity, build)


def candidate_features(states: PairStates, owner: pd.DataFrame | None, contacts: pd.DataFrame | None, at: float,
                       goal: str | None, profile: Profile | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Feature matrix of the owner's contacts with history, their contact rows, their state rows.

    Candidates come in contact_id order whatever order the states arrived in, so
    every path (stored, as_of, stateless) ranks ties identically.
    """
    if profile is None:
        if contacts is None or owner is None:
            raise ValueError("candidate_features needs the owner and contacts, or their profile")
        profile = build_profile(owner, contacts, goal)
    positions, order = candidate_order(states, profile)
    idx = order[(~np.isnan(states.scalars["last_ts"]) & (positions >= 0))[order]]  # one canonical order
    if len(idx) == len(positions) and bool(np.all(idx == np.arange(len(idx)))):
        scalars, recent = states.scalars, states.recent  # every state a candidate, already in order
    else:
        scalars = {k: v[idx] for k, v in states.scalars.items()}
        remap = np.full(len(positions), -1, dtype=np.int64)
        remap[idx] = np.arange(len(idx))
        recent = states.recent.take(remap[states.recent.pair] >= 0)
        by_pair = np.argsort(remap[recent.pair], kind="stable")  # stable: time order within a pair survives
        recent = EventArrays(remap[recent.pair][by_pair], recent.ts[by_pair], recent.type_code[by_pair],
                             recent.dir_code[by_pair], recent.useful[by_pair])
    windows = window_stats(recent, at, len(idx))
    rows_at = positions[idx]
    features = assemble(dynamic_features(scalars, windows, at), profile.static[rows_at])
    return features, candidate_rows(profile, rows_at), idx


def candidate_order(states: PairStates, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The profile row of each state (-1: not a contact of this profile) and the states in contact_id order.

    Remembered on the profile for the states' ``pairs`` frame it was derived from (the same object
    while events only touch known pairs): converting, looking up and sorting 2,000 string ids is
    ~1 ms of every miss. tests/test_cold_path.py holds the remembered answer equal to a fresh one.
    """
    held = profile.orders.get("order")
    if held is not None and held[0] is states.pairs:
        return held[1], held[2]
    ids = states.pairs[CONTACT_ID].to_numpy(object)
    positions, order = profile.positions(ids), np.argsort(ids, kind="stable")  # linear on ids already in order
    profile.orders["order"] = (states.pairs, positions, order)  # one entry, replaced whole: safe across threads
    return positions, order


def candidate_rows(profile: Profile, rows_at: np.ndarray) -> pd.DataFrame:
    """The profile's contact rows at ``rows_at``, reset to 0..n-1; remembered for the last ``rows_at``."""
    held = profile.orders.get("rows")
    if held is not None and np.array_equal(held[0], rows_at):
        return held[1]
    whole = len(rows_at) == len(profile.contacts) and bool(np.all(rows_at == np.arange(len(rows_at))))
    rows = profile.contacts if whole else profile.contacts.iloc[rows_at].reset_index(drop=True)
    profile.orders["rows"] = (rows_at.copy(), rows)
    return rows
