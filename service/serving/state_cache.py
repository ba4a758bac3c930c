"""An owner's decoded pair states, held per service process and brought up to date by what changed.

Reading and decoding all of an owner's ``pair_aggregates`` rows (2,000 rows with
their recent-event blobs) is most of a recommendation that the score cache cannot
answer, yet a new events batch changes only a few of those rows. Every write of a
row stamps it with the owner's new ``state_revision`` (same transaction, under the
owner lock), so a process holding the states at revision R re-reads only the rows
above R (``load_owner_states_since``) and splices them in: changed pairs replaced,
new pairs inserted in contact order. Rows read may be newer than the owner row read
before them; they are simply read again next time (a replace is idempotent).

The whole states are read again when the holder cannot know what went: another
incarnation or profile revision (a contact erased drops its row), a wholesale
rewrite since R (``owners.states_reset_revision``), a revision that went backwards,
or an entry older than ``max_age_seconds`` (a bound on holding an owner's data at
all, like the profile cache). ``tests/test_state_cache.py`` holds the held states
equal to a fresh ``load_owner_states`` after random writes, in one process and
across two.

Entries are never changed in place: a splice builds new arrays, so a request
still using the previous states is not disturbed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.events import EventArrays
from introrank.service.serving.revision_cache import RevisionCache
from introrank.service.store.aggregates import PairStates, load_owner_states, load_owner_states_since


@dataclass(frozen=True)
class HeldStates:
    states: PairStates  # contact_id order (Python's string order), never changed in place
    revision: int  # every aggregate write of the owner up to this state_revision is in ``states``
    built_at: float  # when the states were last read whole: entries age out


@dataclass(frozen=True)
class OwnerRevisions:
    """What the owner row says about the owner's states (read before the states)."""

    incarnation: str
    profile_revision: int
    state_revision: int
    states_reset_revision: int


def in_contact_order(states: PairStates) -> PairStates:
    """``states`` sorted by contact_id (Python's order), the order every splice keeps.

    The stored read already comes so (``ORDER BY contact_id`` under a byte-order collation);
    another collation costs one sort here.
    """
    ids = states.pairs[CONTACT_ID].to_numpy(object)
    if len(ids) < 2 or bool(np.all(ids[:-1] < ids[1:])):
        return states
    order = np.argsort(ids, kind="stable")
    remap = np.empty(len(ids), dtype=np.int64)
    remap[order] = np.arange(len(ids))
    pair = remap[states.recent.pair]
    events = np.argsort(pair, kind="stable")  # time order within a pair survives
    recent = states.recent
    return PairStates(states.pairs.iloc[order].reset_index(drop=True), {k: v[order] for k, v in states.scalars.items()},
                      EventArrays(pair[events], recent.ts[events], recent.type_code[events],
                                  recent.dir_code[events], recent.useful[events]))


def splice_states(held: PairStates, changed: PairStates) -> PairStates:
    """``held`` with the pairs of ``changed`` (both in contact order) replaced or, when new, inserted."""
    if not len(changed.pairs):
        return held
    if not len(held.pairs):
        return changed
    held_ids, changed_ids = held.pairs[CONTACT_ID].to_numpy(object), changed.pairs[CONTACT_ID].to_numpy(object)
    n = len(held_ids)
    pos = np.searchsorted(held_ids, changed_ids)
    found = held_ids[np.minimum(pos, n - 1)] == changed_ids
    found &= pos < n
    if found.all():  # events for known pairs: the usual case, no re-numbering
        pairs, held_at, changed_at = held.pairs, np.arange(n), pos
    else:  # first events of some contacts: they take their place in contact order
        ids = np.concatenate([held_ids, changed_ids[~found]])
        order = np.argsort(ids, kind="stable")
        rank = np.empty(len(ids), dtype=np.int64)
        rank[order] = np.arange(len(ids))
        held_at = rank[:n]
        changed_at = np.empty(len(changed_ids), dtype=np.int64)
        changed_at[found] = held_at[pos[found]]
        changed_at[~found] = rank[n:]
        owner = held.pairs[OWNER_ID].iloc[0]
        pairs = pd.DataFrame({OWNER_ID: pd.Series([owner] * len(ids), dtype=object),
                              CONTACT_ID: pd.Series(ids[order], dtype=object)})
    size = len(pairs)
    scalars = {}
    for name, values in held.scalars.items():
        out = np.empty(size, dtype=values.dtype)
        out[held_at] = values
        out[changed_at] = changed.scalars[name]
        scalars[name] = out
    replaced = np.zeros(size, dtype=bool)
    replaced[changed_at] = True
    kept_pair = held_at[held.recent.pair]
    keep = ~replaced[kept_pair]
    old, new = held.recent.take(keep), changed.recent
    old_pair, new_pair = kept_pair[keep], changed_at[new.pair]
    at = np.searchsorted(old_pair, new_pair)  # both ascending, no pair in both: a merge in (pair, ts) order
    recent = EventArrays(np.insert(old_pair, at, new_pair), np.insert(old.ts, at, new.ts),
                         np.insert(old.type_code, at, new.type_code), np.insert(old.dir_code, at, new.dir_code),
                         np.insert(old.useful, at, new.useful))
    return PairStates(pairs, scalars, recent)


DEFAULT_MAX_AGE_SECONDS = 600.0


class StateCache(RevisionCache[HeldStates]):
    def __init__(self, capacity: int = 256, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        super().__init__(capacity, max_age_seconds, born=lambda held: held.built_at)
        self.spliced = 0

    def states(self, conn: Connection, tenant_id: int, owner_id: str, owner: OwnerRevisions) -> PairStates:
        """The owner's states as of (at least) the owner row ``owner`` read on ``conn`` just before."""
        key, validity = (tenant_id, owner_id), (owner.incarnation, owner.profile_revision)
        hit = self.held(key)
        if hit is not None and hit[0] == validity and \
                owner.states_reset_revision <= hit[1].revision <= owner.state_revision:
            held = hit[1]
            if held.revision == owner.state_revision:
                self.hits += 1
                return held.states
            changed = load_owner_states_since(conn, tenant_id, owner_id, held.revision)
            states = splice_states(held.states, changed)
            self.spliced += 1
            self.put(key, validity, HeldStates(states, owner.state_revision, held.built_at), newer=_newer)
            return states
        self.misses += 1
        built_at = time.time()
        states = in_contact_order(load_owner_states(conn, tenant_id, owner_id))
        if self.enabled:
            self.put(key, validity, HeldStates(states, owner.state_revision, built_at), newer=_newer)
        return states


def _newer(held: HeldStates, entry: HeldStates) -> bool:
    return held.revision > entry.revision

