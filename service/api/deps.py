"""Shared objects handed to routes as ``Annotated`` dependencies.

The ones that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
dependency on the thread pool, and those hops cost more than the lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from introrank.service.api.observability import ServiceMetrics
from introrank.service.errors import AuthError
from introrank.service.serving.model_holder import ModelHolder, ServedModel
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.serving.score_cache import ScoreCache
from introrank.service.serving.served_log import ServedLog
from introrank.service.serving.state_cache import StateCache
from introrank.service.settings import Settings
from introrank.service.store.keys import ADMIN, READ, WRITE, Principal, authenticate


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine


async def get_holder(request: Request) -> ModelHolder:
    return request.app.state.model_holder


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


async def get_served_log(request: Request) -> ServedLog:
    return request.app.state.served_log


@dataclass(frozen=True)
class Caches:
    """This process's caches of owner data (profiles, scored lists, decoded pair states)."""

    profiles: ProfileCache
    scores: ScoreCache
    states: StateCache

    def forget_owner(self, tenant_id: int, owner_id: str) -> None:
        """An erasure in this process: its cached copies of the owner go at once."""
        self.profiles.forget_owner(tenant_id, owner_id)
        self.scores.forget_owner(tenant_id, owner_id)
        self.states.forget_owner(tenant_id, owner_id)


async def get_caches(request: Request) -> Caches:
    return Caches(request.app.state.profiles, request.app.state.scores, request.app.state.states)


EngineDep = Annotated[Engine, Depends(get_engine_dep)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
ServedLogDep = Annotated[ServedLog, Depends(get_served_log)]
CachesDep = Annotated[Caches, Depends(get_caches)]


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def get_principal(
    engine: EngineDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    return authenticate(engine, key_from_headers(authorization, x_api_key))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _needs(scope: str):  # noqa: ANN202 - a dependency factory
    async def check(principal: PrincipalDep) -> Principal:
        if scope not in principal.scopes:
            raise AuthError(f"this endpoint needs an API key with the {scope!r} scope", status_code=403)
        return principal

    check.__name__ = f"needs_{scope}"
    return check


ReadDep = Annotated[Principal, Depends(_needs(READ))]
WriteDep = Annotated[Principal, Depends(_needs(WRITE))]
AdminDep = Annotated[Principal, Depends(_needs(ADMIN))]


def get_served_model(request: Request, principal: PrincipalDep) -> ServedModel:
    """The caller tenant's model for this whole request (a swap cannot change it mid-way).

    A plain ``def``: the first request of a tenant loads its model from the registry.
    """
    return request.app.state.model_holder.for_tenant(principal.tenant)


ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]
