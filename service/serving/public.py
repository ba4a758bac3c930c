"""A ranked list as the public schema: what the HTTP API and the webhook push both send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from introrank.service.schemas import ActionPublic, ActionType, GoalName, RecommendationItem, RecommendationsPublic
from introrank.service.serving.recommend import RecommendationList


def to_public(result: RecommendationList) -> RecommendationsPublic:
    return RecommendationsPublic(
        owner_id=result.owner_id,
        as_of=datetime.fromtimestamp(result.as_of, UTC),
        model_version=result.model_version,
        goal=cast(GoalName, result.goal),
        recommendations=[
            RecommendationItem(recommendation_id=it.recommendation_id, contact_id=it.contact_id, rank=it.rank,
                               probability=it.probability, reasons=it.reasons,
                               action=ActionPublic(type=cast(ActionType, it.action_type), reason=it.action_reason))
            for it in result.items
        ],
    )
