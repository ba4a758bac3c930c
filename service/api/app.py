"""The FastAPI application: lifespan, middleware, error mapping, offline docs."""

from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from introrank.service.api.body_gate import BodyGate, BodyTooLarge, limited
from introrank.service.api.observability import ServiceMetrics, configure_logging, request_id_var
from introrank.service.api.routes import data, ops, recommendations, webhooks
from introrank.service.errors import AuthError, InvalidInputError, NotFoundError, UnavailableError
from introrank.service.serving.model_holder import ModelHolder
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.serving.score_cache import ScoreCache
from introrank.service.serving.served_log import ServedLog
from introrank.service.serving.state_cache import StateCache
from introrank.service.settings import Settings, get_settings
from introrank.service.store.concurrency import unavailable_from
from introrank.service.store.engine import get_engine
from introrank.service.store.wal_checkpointer import WalCheckpointer

log = logging.getLogger("introrank.http")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    configure_logging(settings.log_level)
    if getattr(app.state, "engine", None) is None:
        app.state.engine = get_engine(settings)
    checkpointer = app.state.wal_checkpointer = WalCheckpointer.for_engine(app.state.engine)
    if checkpointer is not None:
        checkpointer.start()
        app.state.metrics.watch_checkpointer(checkpointer)
    metrics: ServiceMetrics = app.state.metrics
    served_log = app.state.served_log = ServedLog(
        app.state.engine, wait=settings.served_log_wait_seconds, keep=settings.served_log_keep_seconds,
        on_outcome=lambda outcome: metrics.served_log.labels(result=outcome).inc())
    served_log.start()
    holder = ModelHolder(settings)
    try:
        app.state.model_holder = holder
        app.state.metrics.set_model(holder.base().version)
        holder.start_polling(settings.model_poll_seconds)
        _freeze_startup_heap()
        yield
    finally:
        gc.unfreeze()  # hand it all back: what this app held is garbage once it stops
        holder.stop()
        served_log.stop()
        if checkpointer is not None:
            checkpointer.stop()


def _freeze_startup_heap() -> None:
    """Keep the cyclic garbage collector away from what startup loaded.

    The imported libraries and the model are some 300,000 long-lived objects,
    and every full (generation 2) collection walked all of them: a pause of
    about 140-220 ms on this machine, which hit one events batch in fifty.
    Frozen objects are skipped by the collector (reference counting still frees
    them), so collections only see what requests allocate. Shutdown unfreezes.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app; ``engine`` overrides the configured database (tests pin a schema this way)."""
    app = FastAPI(title="introrank", version="0.1.0", lifespan=lifespan, docs_url=None,
                  description="Who should I contact next? Ranked, explained contacts for any CRM.")
    app.state.settings = settings or get_settings()
    app.state.metrics = ServiceMetrics()
    app.state.engine = engine
    app.state.profiles = ProfileCache(max_age_seconds=app.state.settings.profile_cache_seconds)
    app.state.scores = ScoreCache(app.state.settings.score_cache_seconds)
    app.state.states = StateCache(max_age_seconds=app.state.settings.profile_cache_seconds)
    routers = (data.router, recommendations.router, ops.router, webhooks.router)
    for router in routers:
        app.include_router(router)
    # The routers' own routes: recent FastAPI keeps included routers nested in app.routes.
    app.state.body_gate = BodyGate([r for router in routers for r in router.routes], app.state.settings.max_body_bytes)
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

    @app.exception_handler(UnavailableError)
    async def unavailable(_: Request, exc: UnavailableError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse({"detail": exc.detail}, status_code=503, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


def _last_resort(exc: Exception, request_id: str) -> JSONResponse:
    """503 for a store that cannot answer now, 500 for a bug; logged by type only (messages may hold data)."""
    busy = unavailable_from(exc)
    if busy is not None:
        log.warning("store unavailable", extra={"error": type(exc).__name__})
        headers = {"Retry-After": str(busy.retry_after)} if busy.retry_after is not None else None
        return JSONResponse({"detail": busy.detail}, status_code=503, headers=headers)
    log.error("unhandled error", extra={"error": type(exc).__name__})
    return JSONResponse({"detail": "internal error", "request_id": request_id}, status_code=500)


def _add_middleware(app: FastAPI) -> None:
    app.add_middleware(ObserveMiddleware, app_state=app.state)


class ObserveMiddleware:
    """Request ids, the body-size limit, per-route metrics, one JSON log line per request, and the last resort.

    The last resort: an exception no handler took never reaches uvicorn (which would
    print its traceback, SQL and all, to stderr). A transient store error answers 503
    with ``Retry-After``; anything else 500 ``{"detail": "internal error", "request_id"}``,
    and one log line names the exception type, never its message.
    The body gate (``body_gate``) limits bodies while they stream and refuses a keyless
    request before its body is read.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``)
    runs every request through extra tasks and streams, which cost more CPU than
    a cached recommendation itself.
    """

    def __init__(self, app: ASGIApp, app_state: Any) -> None:
        self.app = app
        self.state = app_state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status, recorded, responding = 500, False, False

        def record() -> None:  # before the last byte goes out: a client that got it sees the metric
            nonlocal recorded
            recorded = True
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            metrics: ServiceMetrics = self.state.metrics
            metrics.requests.labels(scope["method"], path, str(status)).inc()
            metrics.latency.labels(scope["method"], path).observe(elapsed)
            log.info("request", extra={"method": scope["method"], "route": path, "status": status,
                                       "ms": round(elapsed * 1000, 2)})

        async def send_with_id(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status, responding = message["status"], True
                MutableHeaders(scope=message).append("x-request-id", request_id)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()
            await send(message)

        try:
            gate: BodyGate = self.state.body_gate
            limit, needs_key = gate.rule(scope["method"], scope["path"])
            refusal = gate.refusal(headers, limit, needs_key)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, limited(receive, limit), send_with_id)
        except BodyTooLarge as exc:  # a part of the app that let it through: answer it here
            if not responding:
                await JSONResponse({"detail": exc.detail}, status_code=413, headers=exc.headers)(
                    scope, receive, send_with_id)
        except Exception as exc:  # the last resort, see the class docstring
            response = _last_resort(exc, request_id)
            if not responding:
                await response(scope, receive, send_with_id)
        finally:
            if not recorded:  # the app failed before finishing a response
                record()
            request_id_var.reset(token)
