"""The FastAPI application: lifespan, middleware, error mapping, offline docs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from service.db import get_engine
from service.errors import AuthError, InvalidInputError, NotFoundError
from service.jobs import JobRunner
from service.model_holder import ModelHolder
from service.observability import ServiceMetrics, configure_logging, request_id_var
from service.profile_cache import ProfileCache
from service.routes import data, ops, recommendations, webhooks
from service.score_cache import ScoreCache
from service.settings import Settings, get_settings

log = logging.getLogger("introrank.http")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(settings.log_level)
    if getattr(app.state, "engine", None) is None:
        app.state.engine = get_engine(settings)
    holder = ModelHolder(settings)
    holder.reload()
    app.state.model_holder = holder
    app.state.metrics.set_model(holder.current.version)
    holder.start_polling(settings.model_poll_seconds)
    yield
    holder.stop()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app; ``engine`` overrides the configured database (tests pin a schema this way)."""
    app = FastAPI(title="introrank", version="0.1.0", lifespan=lifespan, docs_url=None,
                  description="Who should I contact next? Ranked, explained contacts for any CRM.")
    app.state.settings = settings or get_settings()
    app.state.metrics = ServiceMetrics()
    app.state.engine = engine
    app.state.jobs = JobRunner()
    app.state.profiles = ProfileCache()
    app.state.scores = ScoreCache(app.state.settings.score_cache_seconds)
    for router in (data.router, recommendations.router, ops.router, webhooks.router):
        app.include_router(router)
    _add_docs(app)
    _add_error_handlers(app)
    _add_middleware(app)
    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package: the docs work with no internet."""
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> object:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="introrank API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=404)

    @app.exception_handler(InvalidInputError)
    async def invalid(_: Request, exc: InvalidInputError) -> JSONResponse:
        return JSONResponse({"detail": exc.as_detail()}, status_code=422)

    @app.exception_handler(AuthError)
    async def auth(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


def _add_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next):  # noqa: ANN001, ANN202
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        limit = app.state.settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = JSONResponse({"detail": f"request body over the {limit}-byte limit"}, status_code=413)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        metrics: ServiceMetrics = app.state.metrics
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(request.method, path).observe(elapsed)
        response.headers["x-request-id"] = request_id
        log.info("request", extra={"method": request.method, "route": path, "status": response.status_code,
                                   "ms": round(elapsed * 1000, 2)})
        request_id_var.reset(token)
        return response
