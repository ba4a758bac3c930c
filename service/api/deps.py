"""Shared objects handed to routes as ``Annotated`` dependencies.

The ones that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
dependency on the thread pool, and those hops cost more than the lookups.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine

from introrank.service.api.observability import ServiceMetrics
from introrank.service.errors import AuthError
from introrank.service.serving.model_holder import ModelHolder, ServedModel
from introrank.service.settings import Settings
from introrank.service.store.keys import Principal, authenticate


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine_dep(request: Request) -> Engine:
    return request.app.state.engine


async def get_holder(request: Request) -> ModelHolder:
    return request.app.state.model_holder


async def get_served_model(request: Request) -> ServedModel:
    """The model snapshot for this whole request (a reload cannot change it mid-way)."""
    return request.app.state.model_holder.current


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


EngineDep = Annotated[Engine, Depends(get_engine_dep)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


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


async def get_admin(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise AuthError("this endpoint needs an admin API key", status_code=403)
    return principal


AdminDep = Annotated[Principal, Depends(get_admin)]
