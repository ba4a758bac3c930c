"""The recommend endpoint: the list a CRM shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from model.constants import DEFAULT_K
from service.db import write_connection
from service.deps import EngineDep, MetricsDep, PrincipalDep, ServedModelDep
from service.recommend import RecommendationList, log_served, recommend
from service.schemas import ActionPublic, GoalName, RecommendationItem, RecommendationsPublic

router = APIRouter(prefix="/v1", tags=["recommendations"])


def to_public(result: RecommendationList) -> RecommendationsPublic:
    return RecommendationsPublic(
        owner_id=result.owner_id,
        as_of=datetime.fromtimestamp(result.as_of, UTC),
        model_version=result.model_version,
        goal=result.goal,
        recommendations=[
            RecommendationItem(recommendation_id=it.recommendation_id, contact_id=it.contact_id, rank=it.rank,
                               probability=it.probability, reasons=it.reasons,
                               action=ActionPublic(type=it.action_type, reason=it.action_reason))
            for it in result.items
        ],
    )


@router.get("/owners/{owner_id}/recommendations", response_model=RecommendationsPublic)
def get_recommendations(
    owner_id: Annotated[str, Path(min_length=1)],
    principal: PrincipalDep,
    engine: EngineDep,
    served: ServedModelDep,
    metrics: MetricsDep,
    k: Annotated[int, Query(ge=1, le=100)] = DEFAULT_K,
    goal: Annotated[GoalName | None, Query(description="Overrides the owner's stored goal")] = None,
    as_of: Annotated[datetime | None, Query(description="Answer as of this past time (backtests)")] = None,
) -> RecommendationsPublic:
    """Ranked contacts with calibrated probability, reasons and a first action.

    Live lists are logged (one ``recommendation_id`` per item) so feedback joins
    to them; ``as_of`` backtests are not logged.
    """
    if as_of is not None and as_of.tzinfo is None:
        from service.errors import InvalidInputError

        raise InvalidInputError(None, "as_of", "as_of must be timezone-aware, e.g. 2025-06-01T00:00:00Z")
    when = as_of.timestamp() if as_of is not None else None
    with engine.connect() as conn:
        result = recommend(conn, principal.tenant_id, owner_id, served, k, goal, when)
    if as_of is None:
        with write_connection(engine) as conn:
            log_served(conn, principal.tenant_id, result)
    metrics.recommendations.labels(model_version=result.model_version).inc()
    return to_public(result)
