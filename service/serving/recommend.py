"""Who should this owner contact next: features -> model -> re-ranking -> reasons and actions.

The live path reads only the owner's stored aggregates; ``as_of`` replays the
owner's stored events before that time through the very same feature code, which
is what a backtest needs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from introrank.model.actions import Action, suggest_action
from introrank.model.aggregates import window_stats
from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.events import EventArrays
from introrank.model.explain import top_reasons
from introrank.model.features import STATIC_FEATURES, assemble, dynamic_features, static_features
from introrank.model.keep_warm import AGE_DAYS, KeepWarm, age_alone, keep_warm_list
from introrank.model.rerank import RerankPolicy, rerank
from introrank.service.errors import NotFoundError
from introrank.service.serving.model_holder import ServedModel
from introrank.service.serving.profile_cache import Profile, ProfileCache
from introrank.service.serving.score_cache import ScoreCache
from introrank.service.store.aggregates import (
    PairStates,
    count_impression,
    load_impressions,
    load_owner_states,
    states_from_events,
)
from introrank.service.store.concurrency import lock_owners
from introrank.service.store.policy import load_policy
from introrank.service.store.tables import Contact, Event, Feedback, Owner, ServedRecommendation

CONTACT_COLUMNS = (Contact.contact_id, Contact.company, Contact.industry, Contact.career_stage,
                   Contact.mutual_connections, Contact.do_not_recommend)


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


OWNER_COLUMNS = (Owner.owner_id, Owner.career_stage, Owner.industry, Owner.goal, Owner.target_industries,
                 Owner.target_companies, Owner.profile_revision, Owner.state_revision, Owner.impression_revision)


@dataclass(frozen=True)
class OwnerRecord:
    """The owner row as plain values: a cached recommendation needs only the revisions and the goal,
    and building a one-row DataFrame costs more than the rest of such a request."""

    owner_id: str
    career_stage: int | None
    industry: str | None
    goal: str
    target_industries: list[str]
    target_companies: list[str]
    profile_revision: int
    state_revision: int
    impression_revision: int = 0

    def frame(self) -> pd.DataFrame:
        """The one-row frame the feature code takes (``introrank.model.features.static_features``)."""
        return pd.DataFrame({OWNER_ID: [self.owner_id], "career_stage": [self.career_stage],
                             "industry": [self.industry], "goal": [self.goal],
                             "target_industries": [self.target_industries], "target_companies": [self.target_companies],
                             "profile_revision": [self.profile_revision], "state_revision": [self.state_revision]})


def load_owner_record(conn: Connection, tenant_id: int, owner_id: str) -> OwnerRecord:
    row = conn.execute(select(*OWNER_COLUMNS).where(Owner.tenant_id == tenant_id, Owner.owner_id == owner_id)).first()
    if row is None:
        raise NotFoundError("owner", owner_id)
    return OwnerRecord(row.owner_id, row.career_stage, row.industry, row.goal, list(row.target_industries or []),
                       list(row.target_companies or []), int(row.profile_revision), int(row.state_revision),
                       int(row.impression_revision))


def load_owner(conn: Connection, tenant_id: int, owner_id: str) -> pd.DataFrame:
    return load_owner_record(conn, tenant_id, owner_id).frame()


def load_contacts(conn: Connection, tenant_id: int, owner_id: str) -> pd.DataFrame:
    query = select(*CONTACT_COLUMNS).where(Contact.tenant_id == tenant_id, Contact.owner_id == owner_id)
    frame = pd.DataFrame.from_records([tuple(r) for r in conn.execute(query)], columns=[c.key for c in CONTACT_COLUMNS])
    frame.insert(0, OWNER_ID, owner_id)
    return frame


def states_as_of(conn: Connection, tenant_id: int, owner_id: str, as_of: float) -> PairStates:
    """The owner's pair states rebuilt from stored events strictly before ``as_of``."""
    columns = [Event.owner_id, Event.contact_id, Event.occurred_at, Event.type, Event.direction, Event.useful]
    query = select(*columns).where(Event.tenant_id == tenant_id, Event.owner_id == owner_id,
                                   Event.occurred_at < as_of)
    events = pd.DataFrame(conn.execute(query).all(), columns=[c.key for c in columns])
    return states_from_events(events)


def unanswered_impressions(conn: Connection, tenant_id: int, owner_id: str, states: PairStates,
                           at: float, since_days: float = 180.0) -> np.ndarray:
    """Times each candidate was served since anything last happened with them (before ``at``)."""
    query = select(ServedRecommendation.contact_id, ServedRecommendation.served_at).where(
        ServedRecommendation.tenant_id == tenant_id, ServedRecommendation.owner_id == owner_id,
        ServedRecommendation.served_at < at, ServedRecommendation.served_at >= at - since_days * 86400)
    served = pd.DataFrame(conn.execute(query).all(), columns=[CONTACT_ID, "served_at"])
    if served.empty:
        return np.zeros(len(states.pairs))
    last = pd.Series(states.scalars["last_ts"], index=states.pairs[CONTACT_ID].to_numpy())
    feedback = select(Feedback.contact_id, func.max(Feedback.occurred_at)).where(
        Feedback.tenant_id == tenant_id, Feedback.owner_id == owner_id, Feedback.occurred_at < at
    ).group_by(Feedback.contact_id)
    last_feedback = pd.Series(dict(conn.execute(feedback).all()), dtype=float)
    if not last_feedback.empty:
        last = pd.concat([last, last_feedback], axis=1).max(axis=1)
    served["last_ts"] = served[CONTACT_ID].map(last)
    unanswered = served[served["served_at"] > served["last_ts"].fillna(-np.inf)]
    counts = unanswered.groupby(CONTACT_ID).size()
    return states.pairs[CONTACT_ID].map(counts).fillna(0).to_numpy(dtype=float)


def build_profile(owner: pd.DataFrame, contacts: pd.DataFrame, goal: str | None) -> Profile:
    """Every contact's row and static features, indexed by contact_id."""
    contacts = contacts.reset_index(drop=True)
    static = static_features(contacts[[OWNER_ID, CONTACT_ID]], owner, contacts, goal)
    return Profile(contacts, static[list(STATIC_FEATURES)].to_numpy(dtype=float), pd.Index(contacts[CONTACT_ID]))


def owner_profile(conn: Connection, tenant_id: int, owner: pd.DataFrame, goal: str | None,
                  cache: ProfileCache | None) -> Profile:
    owner_id = str(owner[OWNER_ID].iloc[0])

    def build() -> Profile:
        return build_profile(owner, load_contacts(conn, tenant_id, owner_id), goal)

    if cache is None:
        return build()
    return cache.get((tenant_id, owner_id, goal), int(owner["profile_revision"].iloc[0]), build)


def candidate_features(states: PairStates, owner: pd.DataFrame, contacts: pd.DataFrame | None, at: float,
                       goal: str | None, profile: Profile | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Feature matrix of the owner's contacts with history, their contact rows, their state rows.

    Candidates come in contact_id order whatever order the states arrived in, so
    every path (stored, as_of, stateless) ranks ties identically.
    """
    profile = profile or build_profile(owner, contacts, goal)
    ids = states.pairs[CONTACT_ID].to_numpy(object)
    keep = ~np.isnan(states.scalars["last_ts"]) & (profile.positions(ids) >= 0)
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(ids[idx], kind="stable")]  # one canonical order
    scalars = {k: v[idx] for k, v in states.scalars.items()}
    remap = np.full(len(ids), -1, dtype=np.int64)
    remap[idx] = np.arange(len(idx))
    recent = states.recent.take(remap[states.recent.pair] >= 0)
    order = np.argsort(remap[recent.pair], kind="stable")  # stable: time order within a pair survives
    recent = EventArrays(remap[recent.pair][order], recent.ts[order], recent.type_code[order],
                         recent.dir_code[order], recent.useful[order])
    windows = window_stats(recent, at, len(idx))
    rows_at = profile.positions(ids[idx])
    rows = profile.contacts.iloc[rows_at].reset_index(drop=True)
    return assemble(dynamic_features(scalars, windows, at), profile.static[rows_at]), rows, idx


def keep_warm(conn: Connection, tenant_id: int, owner_id: str, served: ServedModel, k: int,
              as_of: float | None = None, cache: ProfileCache | None = None
              ) -> tuple[float, list[tuple[str, KeepWarm]]]:
    """Cooling ties: the same features now and aged AGE_DAYS with no new events, through one model."""
    owner = load_owner(conn, tenant_id, owner_id)
    at = time.time() if as_of is None else as_of
    states = load_owner_states(conn, tenant_id, owner_id) if as_of is None else states_as_of(
        conn, tenant_id, owner_id, at)
    profile = owner_profile(conn, tenant_id, owner, None, cache)
    now, rows, _ = candidate_features(states, owner, None, at, None, profile)
    if now.empty:
        return at, []
    later = age_alone(now, candidate_features(states, owner, None, at + AGE_DAYS * 86400.0, None, profile)[0])
    excluded = rows["do_not_recommend"].fillna(False).to_numpy(bool)
    items = keep_warm_list(now, later, served.ranker.predict_proba(now), served.ranker.predict_proba(later), at, k,
                           excluded)
    return at, [(str(rows[CONTACT_ID].iloc[it.index]), it) for it in items]


@dataclass
class ScoredCandidates:
    """An owner's candidates scored at time ``at``: everything a list needs except the re-ranking.

    ``explained`` memoises each row's reasons and action (TreeSHAP is the costly
    part), so a cached entry explains a contact once however often it is shown.
    """

    at: float
    features: pd.DataFrame
    rows: pd.DataFrame  # contact rows, aligned with features
    idx: np.ndarray  # row of each candidate in the pair states it came from
    raw: np.ndarray  # the model's raw scores (orders ties the calibration flattens)
    probability: np.ndarray
    explained: dict[int, tuple[list[str], Action]] = field(default_factory=dict)
    # What re-ranking reads on every request, taken out of the frames once.
    contact_ids: np.ndarray = field(init=False)
    companies: np.ndarray = field(init=False)
    do_not_recommend: np.ndarray = field(init=False)
    days_since_last_ask: np.ndarray = field(init=False)
    _position: dict[str, int] = field(init=False, repr=False)
    # (owner's impression_revision, every candidate's counter) as last read or kept; replaced, never mutated
    shown: tuple[int, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.contact_ids = self.rows[CONTACT_ID].to_numpy(object) if len(self.rows) else np.empty(0, object)
        self.companies = self.rows["company"].to_numpy(object) if len(self.rows) else np.empty(0, object)
        self.do_not_recommend = (self.rows["do_not_recommend"].fillna(False).to_numpy(bool) if len(self.rows)
                                 else np.empty(0, bool))
        self.days_since_last_ask = self.features["days_since_last_ask"].to_numpy(float)
        self._position = {c: i for i, c in enumerate(self.contact_ids.tolist())}

    def current_impressions(self, revision: int, read: Callable[[], dict[str, int]]) -> np.ndarray:
        """The counters at ``revision``: kept ones when still at it, else read (and kept)."""
        held = self.shown
        if held is not None and held[0] == revision:
            return held[1]
        counters = self.impressions_of(read())  # read after the revision, so at least as new as it
        self.shown = (revision, counters)
        return counters

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
        out = np.zeros(len(self.contact_ids))
        for contact_id, count in counters.items():
            at = self._position.get(contact_id)
            if at is not None:
                out[at] = count
        return out


def score_candidates(features: pd.DataFrame, rows: pd.DataFrame, idx: np.ndarray, served: ServedModel,
                     at: float) -> ScoredCandidates:
    raw = served.ranker.raw_score(features) if not features.empty else np.empty(0)
    return ScoredCandidates(at, features, rows, idx, raw, served.ranker.calibrate(raw))


def pick(scored: ScoredCandidates, served: ServedModel, k: int, policy: RerankPolicy = RerankPolicy(),
         impressions: np.ndarray | None = None) -> list[Recommendation]:
    """Re-rank, explain the top k and pick each one's first action.

    Shared by the live, as_of and stateless paths, so they cannot disagree.
    Contributions (the expensive part) are computed for the chosen k only.
    """
    if scored.features.empty:
        return []
    chosen = rerank(scored.probability, scored.companies, scored.do_not_recommend, scored.days_since_last_ask, k,
                    policy, impressions, tiebreak=scored.raw).tolist()
    _explain(scored, served, [i for i in chosen if i not in scored.explained])
    items = []
    for rank, i in enumerate(chosen, start=1):
        why, action = scored.explained[i]
        items.append(Recommendation(str(uuid.uuid4()), str(scored.contact_ids[i]), rank,
                                    float(scored.probability[i]), list(why), action.type, action.reason))
    return items


def _explain(scored: ScoredCandidates, served: ServedModel, missing: list[int]) -> None:
    if not missing:
        return
    top = scored.features.iloc[missing]
    for i, why in zip(missing, top_reasons(top, served.ranker.contributions(top)), strict=True):
        scored.explained[i] = (why, suggest_action(scored.features.iloc[i]))


def rank_candidates(features: pd.DataFrame, rows: pd.DataFrame, served: ServedModel, k: int,
                    policy: RerankPolicy = RerankPolicy(),
                    impressions: np.ndarray | None = None) -> list[Recommendation]:
    """Score and pick in one step (the stateless scorer and the benchmarks)."""
    scored = score_candidates(features, rows, np.arange(len(features)), served, time.time())
    return pick(scored, served, k, policy, impressions)


def live_scores(conn: Connection, tenant_id: int, owner: OwnerRecord, served: ServedModel, goal: str | None,
                profiles: ProfileCache | None, scores: ScoreCache | None) -> ScoredCandidates:
    """The owner's candidates scored now, or as recently as the score cache allows."""

    def build() -> ScoredCandidates:
        at, frame = time.time(), owner.frame()
        states = load_owner_states(conn, tenant_id, owner.owner_id)
        profile = owner_profile(conn, tenant_id, frame, goal, profiles)
        return score_candidates(*candidate_features(states, frame, None, at, goal, profile), served, at)

    if scores is None:
        return build()
    validity = (owner.profile_revision, owner.state_revision, served.version, served.run_id)
    return scores.get((tenant_id, owner.owner_id, goal), validity, build)


def recommend(conn: Connection, tenant_id: int, owner_id: str, served: ServedModel, k: int,
              goal: str | None = None, as_of: float | None = None,
              policy: RerankPolicy | None = None, cache: ProfileCache | None = None,
              scores: ScoreCache | None = None) -> RecommendationList:
    """The owner's list under ``policy`` (the tenant's own when not given)."""
    owner = load_owner_record(conn, tenant_id, owner_id)
    policy = policy or load_policy(conn, tenant_id)
    if as_of is None:  # live: the aggregates, maybe already scored, and the impression counters beside them
        scored = live_scores(conn, tenant_id, owner, served, goal, cache, scores)
        impressions = scored.current_impressions(owner.impression_revision,
                                                 lambda: load_impressions(conn, tenant_id, owner_id))
    else:  # backtest: replay the stored events and the served log before as_of
        states = states_as_of(conn, tenant_id, owner_id, as_of)
        frame = owner.frame()
        profile = owner_profile(conn, tenant_id, frame, goal, cache)
        scored = score_candidates(*candidate_features(states, frame, None, as_of, goal, profile), served, as_of)
        impressions = unanswered_impressions(conn, tenant_id, owner_id, states, as_of)[scored.idx]
    items = pick(scored, served, k, policy, impressions)
    return RecommendationList(owner_id, scored.at, served.version, goal or owner.goal, items,
                              scored if as_of is None else None)


def log_served(conn: Connection, tenant_id: int, result: RecommendationList) -> int | None:
    """Record every served item, so feedback joins to it and impressions can be counted.

    ``served_at`` is when the list was shown, which for a cached list is later than its ``as_of``.
    Returns the owner's new impression revision, for ``remember_served`` once committed.
    The owner is locked before the first insert, like every writer of its aggregates.
    """
    list_id, served_at = str(uuid.uuid4()), time.time()
    if result.items:
        lock_owners(conn, tenant_id, [result.owner_id])
        conn.execute(ServedRecommendation.__table__.insert(), [
            {"recommendation_id": it.recommendation_id, "list_id": list_id, "tenant_id": tenant_id,
             "owner_id": result.owner_id, "contact_id": it.contact_id, "rank": it.rank,
             "probability": it.probability, "model_version": result.model_version, "served_at": served_at}
            for it in result.items])
        return count_impression(conn, tenant_id, result.owner_id, [it.contact_id for it in result.items])
    return None


def remember_served(result: RecommendationList, revision: int | None) -> None:
    """After the log committed: the list's cache entry counts the impressions itself (no re-read)."""
    if result.scored is not None:
        result.scored.count_shown([it.contact_id for it in result.items], revision)
