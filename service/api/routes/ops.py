"""Health, readiness, metrics, the served model and its reload."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from introrank.service.api.deps import AdminDep, EngineDep, HolderDep, MetricsDep, ReadDep, ServedModelDep
from introrank.service.errors import NotFoundError
from introrank.service.schemas import ExternalId, JobPublic, ModelPublic, PolicyPublic, PolicyUpdate
from introrank.service.serving.model_holder import ServedModel
from introrank.service.store import jobs
from introrank.service.store.concurrency import run_write
from introrank.service.store.jobs import JobRecord
from introrank.service.store.policy import load_policy, save_policy

router = APIRouter(tags=["operations"])
# The id grammar: an unknown id is a 404, but one outside the grammar (a NUL, which PostgreSQL
# cannot even compare with its ids) is a 422 before it reaches the store.
JobId = Annotated[ExternalId, Path(description="As returned by POST /v1/admin/retrain")]


def model_public(served: ServedModel) -> ModelPublic:
    info = getattr(served.ranker, "info", {}) or {}
    return ModelPublic(
        model_version=served.version,
        heuristic=served.is_heuristic,
        trained_at=datetime.fromtimestamp(served.trained_at, UTC) if served.trained_at else None,
        run_id=served.run_id,
        objective=getattr(served.ranker, "objective", None),
        feature_schema_version=getattr(served.ranker, "schema_version", None),
        metrics=served.metrics,
        problem=served.problem or (info.get("problem") if isinstance(info, dict) else None),
    )


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, engine: EngineDep, holder: HolderDep, response: Response) -> dict[str, object]:
    """Ready when the database answers; says what serves tenants without a model of their own
    (the base model or the heuristic), whether it is compiled yet (``compiled``: LightGBM scores the
    same until then, slower) and how many model loads failed.

    ``wal_checkpointer`` (SQLite files only, else ``"not used"``) says whether the background
    checkpoints happen: a dead or failing checkpointer makes the status ``degraded`` but keeps
    the 200, since requests are still answered (their commits checkpoint as a backstop, slower).
    """
    served = holder.base()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # report, don't crash
        database = f"unavailable ({type(exc).__name__})"
        response.status_code = 503
    checkpointer = getattr(request.app.state, "wal_checkpointer", None)
    checkpoints = "not used" if checkpointer is None else checkpointer.health().describe()
    status = "not ready" if database != "ok" else "ready" if checkpoints in ("ok", "not used") else "degraded"
    return {"status": status, "database": database, "wal_checkpointer": checkpoints,
            "model_version": served.version, "heuristic": served.is_heuristic, "problem": served.problem,
            "compiled": getattr(served.ranker, "compiled", None) is not None,
            "failed_model_loads": holder.failed_loads,
            "last_load_problem": holder.last_problem}


@router.get("/metrics")
def metrics_endpoint(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/model", response_model=ModelPublic)
def get_model(principal: ReadDep, served: ServedModelDep) -> ModelPublic:
    return model_public(served)


@router.post("/v1/admin/reload", response_model=ModelPublic)
async def reload_model(principal: AdminDep, holder: HolderDep, metrics: MetricsDep) -> ModelPublic:
    """Load the current champion and swap it in; requests in flight keep their model."""
    fresh = await run_in_threadpool(holder.reload, principal.tenant)
    return model_public(fresh)


def _job_public(job: JobRecord) -> JobPublic:
    return JobPublic(job_id=job.id, kind=job.kind, state=job.state, result=job.result or {}, error=job.error,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at)


@router.post("/v1/admin/retrain", response_model=JobPublic, status_code=202)
def start_retrain(principal: AdminDep, engine: EngineDep) -> JobPublic:
    """Queue a retrain of this tenant's model on its stored events and feedback.

    The job runs in ``introrank worker`` (which ``introrank serve`` starts), not in
    this process; poll ``GET /v1/admin/jobs/{job_id}``. A promoted champion is
    served by every replica within ``INTRORANK_MODEL_POLL_SECONDS``.
    """
    job_id = run_write(engine, lambda conn: jobs.enqueue(conn, principal.tenant_id, jobs.RETRAIN))
    job = jobs.get_job(engine, principal.tenant_id, job_id)
    assert job is not None
    return _job_public(job)


@router.get("/v1/admin/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: JobId, principal: AdminDep, engine: EngineDep) -> JobPublic:
    """A job of this tenant; another tenant's job id is a 404, as if it did not exist."""
    job = jobs.get_job(engine, principal.tenant_id, job_id)
    if job is None:
        raise NotFoundError("job", job_id)
    return _job_public(job)


@router.get("/v1/admin/policy", response_model=PolicyPublic)
def get_policy(principal: AdminDep, engine: EngineDep) -> PolicyPublic:
    """The tenant's re-ranking policy (company cap, ask cool-down, impression decay)."""
    with engine.connect() as conn:
        return PolicyPublic(**asdict(load_policy(conn, principal.tenant_id)))


@router.put("/v1/admin/policy", response_model=PolicyPublic)
def put_policy(body: PolicyUpdate, principal: AdminDep, engine: EngineDep) -> PolicyPublic:
    policy = run_write(engine, lambda conn: save_policy(conn, principal.tenant_id, body.model_dump(exclude_unset=True)))
    return PolicyPublic(**asdict(policy))
