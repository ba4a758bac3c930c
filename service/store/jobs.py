"""Durable jobs: queued by the API, claimed and run by ``introrank worker``, polled by the tenant.

The ``jobs`` table is the queue, so a job and its result outlive a restart of
the API or of the worker. Claiming is one transaction that holds a lock every
claimer takes (an advisory lock on PostgreSQL, the write lock on SQLite): two
workers never take the same job, a tenant never has two jobs running, and the
global cap on running jobs holds across workers. A running job's worker
refreshes its heartbeat; a job whose heartbeat went stale lost its worker and is
marked failed, so nothing is left "running" forever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, select, text, update
from sqlalchemy.orm import aliased

from introrank.model.json_safe import json_safe
from introrank.service.store.engine import write_connection
from introrank.service.store.tables import Job, Tenant, utc_now

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
RETRAIN = "retrain"
CLAIM_LOCK = 74_112_001  # the advisory lock id every claimer takes on PostgreSQL


@dataclass(frozen=True)
class JobRecord:
    id: str
    tenant_id: int
    tenant: str
    kind: str
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None


def enqueue(conn: Connection, tenant_id: int, kind: str = RETRAIN) -> str:
    job_id = uuid.uuid4().hex
    conn.execute(Job.__table__.insert().values(id=job_id, tenant_id=tenant_id, kind=kind, state=QUEUED,
                                               created_at=utc_now()))
    return job_id


def _record(conn: Connection, job_id: str, tenant_id: int | None = None) -> JobRecord | None:
    query = (select(Job.id, Job.tenant_id, Tenant.name, Job.kind, Job.state, Job.created_at, Job.started_at,
                    Job.finished_at, Job.result, Job.error)
             .join(Tenant, Tenant.id == Job.tenant_id).where(Job.id == job_id))
    if tenant_id is not None:
        query = query.where(Job.tenant_id == tenant_id)
    row = conn.execute(query).first()
    return None if row is None else JobRecord(*row)


def get_job(engine: Engine, tenant_id: int, job_id: str) -> JobRecord | None:
    """The job if it belongs to ``tenant_id`` (another tenant's job is None, as if it did not exist)."""
    with engine.connect() as conn:
        return _record(conn, job_id, tenant_id)


def claim_next(engine: Engine, worker: str, max_running: int) -> JobRecord | None:
    """Take the oldest queued job whose tenant has none running, if fewer than ``max_running`` run."""
    with write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": CLAIM_LOCK})
        running = conn.execute(select(func.count()).select_from(Job).where(Job.state == RUNNING)).scalar_one()
        if running >= max_running:
            return None
        busy = aliased(Job)
        tenant_busy = exists().where(busy.tenant_id == Job.tenant_id, busy.state == RUNNING)
        job_id = conn.execute(select(Job.id).where(Job.state == QUEUED, ~tenant_busy)
                              .order_by(Job.created_at, Job.id).limit(1)).scalar_one_or_none()
        if job_id is None:
            return None
        now = utc_now()
        conn.execute(update(Job).where(Job.id == job_id).values(state=RUNNING, worker=worker[:64], started_at=now,
                                                                heartbeat_at=now))
        return _record(conn, job_id)


def heartbeat(engine: Engine, job_id: str, worker: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id, Job.worker == worker[:64], Job.state == RUNNING)
                     .values(heartbeat_at=utc_now()))




def finish(engine: Engine, job_id: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Record the outcome; ``error`` is an exception type name, never its message (it may hold data)."""
    with write_connection(engine) as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(
            state=FAILED if error else SUCCEEDED, finished_at=utc_now(), error=error[:200] if error else None,
            result=json_safe(result) if result is not None else None))


def fail_stale(engine: Engine, stale_after: timedelta) -> int:
    """Mark failed every running job whose worker stopped reporting; returns how many."""
    cutoff = utc_now() - stale_after
    with write_connection(engine) as conn:
        done = conn.execute(update(Job).where(Job.state == RUNNING, Job.heartbeat_at < cutoff).values(
            state=FAILED, finished_at=utc_now(), error="WorkerLost"))
    return int(done.rowcount or 0)
