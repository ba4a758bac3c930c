"""The recommend endpoint: the list a CRM shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from introrank.model.constants import DEFAULT_K
from introrank.model.grammar import as_of_problem
from introrank.service.api.deps import EngineDep, MetricsDep, ReadDep, ServedLogDep, ServedModelDep
from introrank.service.errors import InvalidInputError
from introrank.service.schemas import (
    ExternalId,
    GoalName,
    KeepWarmItem,
    KeepWarmPublic,
    RecommendationsPublic,
    ScoreRequest,
)
from introrank.service.serving.keep_warm import keep_warm
from introrank.service.serving.public import to_public
from introrank.service.serving.recommend import serve_recommendations
from introrank.service.serving.stateless import score_for_tenant

router = APIRouter(prefix="/v1", tags=["recommendations"])


def _aware(as_of: datetime | None) -> float | None:
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        raise InvalidInputError(None, "as_of", "as_of must be timezone-aware, e.g. 2025-06-01T00:00:00Z",
                                where="query")
    if problem := as_of_problem(as_of.timestamp()):  # dates derived from it must stay representable
        raise InvalidInputError(None, "as_of", problem, where="query")
    return as_of.timestamp()


@router.get("/owners/{owner_id}/recommendations", response_model=RecommendationsPublic)
def get_recommendations(
    owner_id: Annotated[ExternalId, Path()],
    request: Request,
    principal: ReadDep,
    engine: EngineDep,
    served: ServedModelDep,
    metrics: MetricsDep,
    served_log: ServedLogDep,
    k: Annotated[int, Query(ge=1, le=100)] = DEFAULT_K,
    goal: Annotated[GoalName | None, Query(description="Overrides the owner's stored goal")] = None,
    as_of: Annotated[datetime | None, Query(description="Answer as of this past time (backtests)")] = None,
) -> RecommendationsPublic:
    """Ranked contacts with calibrated probability, reasons and a first action.

    Live lists are logged (one ``recommendation_id`` per item) so feedback joins
    to them, best effort: a busy store (a bulk import) queues the log instead of
    failing or stalling the list (``introrank.service.serving.served_log``); ``as_of``
    backtests are not logged.
    """
    result = serve_recommendations(engine, principal.tenant_id, owner_id, served, k, goal, _aware(as_of),
                                   profiles=request.app.state.profiles, scores=request.app.state.scores,
                                   served_log=served_log, states=request.app.state.states)
    metrics.recommendations.labels(model_version=result.model_version).inc()
    return to_public(result)


@router.post("/score", response_model=RecommendationsPublic)
def post_score(body: ScoreRequest, principal: ReadDep, engine: EngineDep,
               served: ServedModelDep) -> RecommendationsPublic:
    """Stateless: rank the contacts and events in the body under the tenant's policy; nothing is stored."""
    return to_public(score_for_tenant(engine, principal.tenant_id, body, served))


@router.get("/owners/{owner_id}/keep-warm", response_model=KeepWarmPublic)
def get_keep_warm(
    owner_id: Annotated[ExternalId, Path()],
    request: Request,
    principal: ReadDep,
    engine: EngineDep,
    served: ServedModelDep,
    k: Annotated[int, Query(ge=1, le=100)] = DEFAULT_K,
    as_of: Annotated[datetime | None, Query(description="Answer as of this past time")] = None,
) -> KeepWarmPublic:
    """Valuable ties that are cooling, by the probability at stake if they go on cooling for 60 days."""
    when = _aware(as_of)
    with engine.connect() as conn:
        at, items = keep_warm(conn, principal.tenant_id, owner_id, served, k, when, cache=request.app.state.profiles)
    return KeepWarmPublic(
        owner_id=owner_id, as_of=datetime.fromtimestamp(at, UTC), model_version=served.version,
        keep_warm=[KeepWarmItem(contact_id=cid, rank=rank, probability_now=it.probability_now,
                                probability_if_cold=it.probability_if_cold, at_stake=it.at_stake,
                                goes_cold_on=datetime.fromtimestamp(it.goes_cold_at, UTC), touch=it.touch)
                   for rank, (cid, it) in enumerate(items, start=1)])
