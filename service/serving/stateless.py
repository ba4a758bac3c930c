"""Stateless scoring: a CRM that keeps its own data sends it all and gets the ranking back.

The request's events become pair states with the same code the store uses and
the list is ranked under the caller tenant's re-ranking policy, so the answer
equals the stored path's for the same data; nothing is written. Nothing served
is stored either, so no impression discounting applies.
"""

from __future__ import annotations

import time

import pandas as pd
from sqlalchemy import Engine

from introrank.model.constants import CONTACT_ID, OWNER_ID
from introrank.model.rerank import RerankPolicy
from introrank.service.errors import InvalidInputError
from introrank.service.schemas import ScoreRequest
from introrank.service.serving.candidates import candidate_features
from introrank.service.serving.model_holder import ServedModel
from introrank.service.serving.recommend import RecommendationList, pick, score_candidates
from introrank.service.store.aggregates import states_from_events
from introrank.service.store.policy import load_policy

EVENT_COLUMNS = [OWNER_ID, CONTACT_ID, "occurred_at", "type", "direction", "useful"]


def request_frames(body: ScoreRequest) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    owner_id = body.owner.owner_id
    owner = pd.DataFrame([{OWNER_ID: owner_id, **body.owner.model_dump(exclude={"owner_id"})}])
    contacts = pd.DataFrame([{OWNER_ID: owner_id, **c.model_dump(exclude={"name", "tags"})}
                             for c in body.contacts],
                            columns=[OWNER_ID, CONTACT_ID, "company", "industry", "title", "career_stage",
                                     "mutual_connections", "do_not_recommend"])
    known: set[str] = set()
    for i, contact in enumerate(body.contacts):
        if contact.contact_id in known:
            raise InvalidInputError(i, "contact_id", f"contacts[{i}] repeats a contact_id", within="contacts")
        known.add(contact.contact_id)
    for i, event in enumerate(body.events):
        if event.contact_id not in known:
            raise InvalidInputError(i, "contact_id", f"events[{i}] names a contact that is not in 'contacts'",
                                    within="events")
    events = pd.DataFrame([(owner_id, e.contact_id, e.occurred_at.timestamp(), e.type, e.direction, e.useful)
                           for e in body.events], columns=EVENT_COLUMNS)
    return owner, contacts, events


def score(body: ScoreRequest, served: ServedModel, policy: RerankPolicy = RerankPolicy()) -> RecommendationList:
    owner, contacts, events = request_frames(body)
    at = body.as_of.timestamp() if body.as_of else time.time()
    events = events[events["occurred_at"] < at]
    states = states_from_events(events)
    features, rows, idx = candidate_features(states, owner, contacts, at, body.goal)
    items = pick(score_candidates(features, rows, idx, served, at), served, body.k, policy)
    return RecommendationList(body.owner.owner_id, at, served.version, body.goal or body.owner.goal, items)


def score_for_tenant(engine: Engine, tenant_id: int, body: ScoreRequest, served: ServedModel) -> RecommendationList:
    """``score`` under the tenant's own re-ranking policy, as its stored lists are."""
    with engine.connect() as conn:
        policy = load_policy(conn, tenant_id)
    return score(body, served, policy)
