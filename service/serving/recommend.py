"""Who should this owner contact next: the candidates' features, the model, re-ranking, reasons and actions.

The live path reads only the owner's stored aggregates (scored, maybe from the
score cache) and the impression counters; ``as_of`` replays the owner's stored
events and the impressions before that time through the very same code, which
is what a backtest needs. Both end in ``introrank.model.ranking.rank``, as do
``/v1/score``, the webhook push and the evaluation.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, select

from introrank.model.constants import CONTACT_ID
from introrank.model.ranking import Scored, rank, score
from introrank.model.rerank import RerankPolicy
from introrank.service.serving.candidates import (
    OwnerRecord,
    candidate_features,
    load_owner_record,
    owner_profile,
    owner_states,
    states_as_of,
)
from introrank.service.serving.model_holder import ServedModel
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.serving.score_cache import ScoreCache
from introrank.service.serving.state_cache import StateCache
from introrank.service.store.concurrency import lock_owners, run_write
from introrank.service.store.impressions import count_impression, impressions_as_of, load_impressions
from introrank.service.store.policy import load_policy
from introrank.service.store.tables import Contact, Owner, ServedRecommendation

if TYPE_CHECKING:  # served_log imports this module; the annotation only
    from introrank.service.serving.served_log import ServedLog


@dataclass(frozen=True)
class Recommendation:
    recommendation_id: str
    contact_id: str
    rank: int
    probability: float
    reasons: list[str]
    action_type: str
    action_reason: str


@dataclass(frozen=True)
class RecommendationList:
    owner_id: str
    as_of: float
    model_version: str
    goal: str
    items: list[Recommendation]
    scored: ScoredCandidates | None = field(default=None, repr=False, compare=False)  # live lists: its entry
    # The owner row it was ranked from: the log checks the owner is still that one (erasures meanwhile).
    validity: tuple[str, int] | None = field(default=None, repr=False, compare=False)


@dataclass
class ScoredCandidates:
    """An owner's candidates scored at time ``at``: the score cache's entry.

    Beside the scores it keeps the impression counters it was last ranked with,
    so a cached entry re-reads them only when the owner's revision moved.
    """

    at: float
    rows: pd.DataFrame  # contact rows, aligned with the features
    idx: np.ndarray  # row of each candidate in the pair states it came from
    scored: Scored
    # (owner's impression_revision, every candidate's counter) as last read or kept; replaced, never mutated
    shown: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    _ids: np.ndarray | None = field(default=None, init=False, repr=False)
    _positions: dict[str, int] | None = field(default=None, init=False, repr=False)

    @property
    def contact_ids(self) -> np.ndarray:
        """Built on first use (two threads may both build it: the same array): a list reads k of them,
        and converting 2,000 string ids costs ~0.3 ms of a miss."""
        if self._ids is None:
            self._ids = self.rows[CONTACT_ID].to_numpy(object) if len(self.rows) else np.empty(0, object)
        return self._ids

    @property
    def _position(self) -> dict[str, int]:
        if self._positions is None:
            self._positions = {c: i for i, c in enumerate(self.contact_ids.tolist())}
        return self._positions

    def impressions_at(self, revision: int) -> np.ndarray | None:
        """The kept counters when they are still at ``revision``, else None (read and ``keep`` them)."""
        held = self.shown
        return held[1] if held is not None and held[0] == revision else None

    def keep(self, revision: int, counters: dict[str, int]) -> np.ndarray:
        """Counters read after ``revision`` was (so at least as new as it): kept for the next request."""
        out = self.impressions_of(counters)
        self.shown = (revision, out)
        return out

    def count_shown(self, contact_ids: list[str], revision: int | None) -> None:
        """This process served ``contact_ids`` and moved the revision to ``revision``: keep up without a read.

        Only when the kept counters were at ``revision - 1``, i.e. nobody else changed them in between.
        """
        held = self.shown
        if held is None or revision is None or held[0] != revision - 1:
            return
        counters = held[1].copy()
        for contact_id in contact_ids:
            at = self._position.get(contact_id)
            if at is not None:
                counters[at] += 1
        self.shown = (revision, counters)

    def impressions_of(self, counters: dict[str, int]) -> np.ndarray:
        """Each candidate's counter from the nonzero ones (contact_id -> count); the rest are 0."""
        out = np.zeros(len(self.rows))
        for contact_id, count in counters.items():
            at = self._position.get(contact_id)
            if at is not None:
                out[at] = count
        return out


def score_candidates(features: pd.DataFrame, rows: pd.DataFrame, idx: np.ndarray, served: ServedModel,
                     at: float) -> ScoredCandidates:
    companies = rows["company"].to_numpy(object) if len(rows) else np.empty(0, object)
    flags = rows["do_not_recommend"].to_numpy(object) if len(rows) else np.empty(0, object)
    return ScoredCandidates(at, rows, idx, score(served.ranker, features, companies, flags))


def pick(candidates: ScoredCandidates, served: ServedModel, k: int, policy: RerankPolicy = RerankPolicy(),
         impressions: np.ndarray | None = None) -> list[Recommendation]:
    """The ranked list (``introrank.model.ranking.rank``) with a recommendation id per item."""
    return [Recommendation(str(uuid.uuid4()), str(candidates.contact_ids[r.index]), position, r.probability,
                           r.reasons, r.action.type, r.action.reason)
            for position, r in enumerate(rank(candidates.scored, served.ranker, k, policy, impressions), start=1)]


def live_scores(conn: Connection, tenant_id: int, owner: OwnerRecord, served: ServedModel, goal: str | None,
                profiles: ProfileCache | None, scores: ScoreCache | None,
                states_cache: StateCache | None = None) -> ScoredCandidates:
    """The owner's candidates scored now, or as recently as the score cache allows."""

    def build() -> ScoredCandidates:
        at = time.time()
        states = owner_states(conn, tenant_id, owner, states_cache)
        profile = owner_profile(conn, tenant_id, owner, goal, profiles)
        return score_candidates(*candidate_features(states, None, None, at, goal, profile), served, at)

    if scores is None:
        return build()
    validity = (owner.incarnation, owner.profile_revision, owner.state_revision, served.version, served.run_id)
    return cast(ScoredCandidates, scores.get((tenant_id, owner.owner_id, goal), validity, build))


def recommend(conn: Connection, tenant_id: int, owner_id: str, served: ServedModel, k: int,
              goal: str | None = None, as_of: float | None = None,
              policy: RerankPolicy | None = None, cache: ProfileCache | None = None,
              scores: ScoreCache | None = None, states: StateCache | None = None) -> RecommendationList:
    """The owner's list under ``policy`` (the tenant's own when not given); ``states`` holds decoded
    pair states between requests (``state_cache``)."""
    owner = load_owner_record(conn, tenant_id, owner_id)
    policy = policy or load_policy(conn, tenant_id)
    if as_of is None:  # live: the aggregates, maybe already scored, and the impression counters beside them
        candidates = live_scores(conn, tenant_id, owner, served, goal, cache, scores, states)
        impressions = candidates.impressions_at(owner.impression_revision)
        if impressions is None:
            impressions = candidates.keep(owner.impression_revision, load_impressions(conn, tenant_id, owner_id))
    else:  # backtest: replay the stored events and the impression counters before as_of
        profile = owner_profile(conn, tenant_id, owner, goal, cache)
        past = states_as_of(conn, tenant_id, owner_id, as_of, owner_states(conn, tenant_id, owner, states))
        candidates = score_candidates(*candidate_features(past, None, None, as_of, goal, profile), served, as_of)
        impressions = candidates.impressions_of(impressions_as_of(conn, tenant_id, owner_id, as_of))
    items = pick(candidates, served, k, policy, impressions)
    return RecommendationList(owner_id, candidates.at, served.version, goal or owner.goal, items,
                              candidates if as_of is None else None, owner.profile_validity)


def log_served(conn: Connection, tenant_id: int, result: RecommendationList, served_at: float | None = None,
               list_id: str | None = None, late: bool = False) -> int | None:
    """Record every served item, so feedback joins to it and impressions are counted.

    ``served_at`` is when the list was shown (now when not given), which for a cached
    list is later than its ``as_of``. ``late``: the list is logged after the fact (the
    served-list log queued it, ``served_log``), so contacts that something happened
    with since ``served_at`` are not counted, as the ``as_of`` replay would not count them.
    Returns the owner's new impression revision, for ``remember_served`` once committed.
    The owner is locked before the first insert, like every writer of its aggregates.

    The list was ranked from a read that may be older than this write: when the owner
    was erased since (or erased and created again: another incarnation, other people
    behind the same ids) nothing is logged; when only its contacts changed, the items
    whose contact is gone are left out.
    """
    list_id, served_at = list_id or str(uuid.uuid4()), time.time() if served_at is None else served_at
    if not result.items:
        return None
    lock_owners(conn, tenant_id, [result.owner_id])
    items = _still_stored(conn, tenant_id, result)
    if not items:
        return None
    conn.execute(cast(Table, ServedRecommendation.__table__).insert(), [
        {"recommendation_id": it.recommendation_id, "list_id": list_id, "tenant_id": tenant_id,
         "owner_id": result.owner_id, "contact_id": it.contact_id, "rank": it.rank,
         "probability": it.probability, "model_version": result.model_version, "served_at": served_at}
        for it in items])
    return count_impression(conn, tenant_id, result.owner_id, [it.contact_id for it in items],
                            unanswered_since=served_at if late else None)


def _still_stored(conn: Connection, tenant_id: int, result: RecommendationList) -> list[Recommendation]:
    """The items of ``result`` whose owner incarnation and contact are still stored (one owner read when
    nothing changed since the list was ranked)."""
    owner = conn.execute(select(Owner.incarnation, Owner.profile_revision).where(
        Owner.tenant_id == tenant_id, Owner.owner_id == result.owner_id)).first()
    if owner is None or (result.validity is not None and owner.incarnation != result.validity[0]):
        return []
    if result.validity is not None and owner.profile_revision == result.validity[1]:
        return result.items
    stored = set(conn.execute(select(Contact.contact_id).where(
        Contact.tenant_id == tenant_id, Contact.owner_id == result.owner_id,
        Contact.contact_id.in_([it.contact_id for it in result.items]))).scalars())
    return [it for it in result.items if it.contact_id in stored]


def remember_served(result: RecommendationList, revision: int | None) -> None:
    """After the log committed: the list's cache entry counts the impressions itself (no re-read)."""
    if result.scored is not None:
        result.scored.count_shown([it.contact_id for it in result.items], revision)


def serve_recommendations(engine: Engine, tenant_id: int, owner_id: str, served: ServedModel, k: int,
                          goal: str | None = None, as_of: float | None = None,
                          profiles: ProfileCache | None = None, scores: ScoreCache | None = None,
                          served_log: ServedLog | None = None, states: StateCache | None = None
                          ) -> RecommendationList:
    """The list a CRM shows: ranked, then (live lists only) logged and counted as impressions.

    Backtests (``as_of``) change nothing. With ``served_log`` the log is that
    log's (best effort: a busy store never fails the read); without it the log
    is written here and a busy store fails the call. Either way the log commits
    before the cache entry counts the impressions, so a failed write never leaves
    the entry ahead of the database.
    """
    with engine.connect() as conn:
        result = recommend(conn, tenant_id, owner_id, served, k, goal, as_of, cache=profiles, scores=scores,
                           states=states)
    if as_of is None:
        if served_log is not None:
            served_log.record(tenant_id, result)
        else:
            revision = run_write(engine, lambda conn: log_served(conn, tenant_id, result))
            remember_served(result, revision)
    return result
