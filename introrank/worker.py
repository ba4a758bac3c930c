"""``introrank worker``: runs the queued jobs (retrains) outside the API process.

``introrank serve`` starts one as a child process, so the embedded setup stays
one command; a real deployment runs it on its own (any number of them: the
store's claim keeps them from taking the same job). LightGBM runs here with
``INTRORANK_TRAIN_THREADS`` threads, never inside the API's workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from introrank.service.settings import Settings
from introrank.service.store import jobs
from introrank.training.retrain import retrain

log = logging.getLogger("introrank.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_retrain(engine: Engine, settings: Settings, tenant: str) -> dict[str, Any]:
    outcome = retrain(engine, settings, tenant)
    summary = outcome.to_dict()
    return {"decision": summary.get("decision", {}), "test_cuts": summary["split"]["test_cuts"],
            "ndcg_at_10": summary["metrics"]["model"]["ndcg_at_10"], "run_id": outcome.run_id,
            "seconds": summary["seconds"]}


def run_job(engine: Engine, settings: Settings, job: jobs.JobRecord, worker: str) -> None:
    """Run one claimed job with a heartbeat beside it, and record how it ended."""
    beat_every = max(0.5, min(5.0, settings.job_stale_seconds / 4))
    done = threading.Event()

    def beat() -> None:
        while not done.wait(beat_every):
            try:
                jobs.heartbeat(engine, job.id, worker)
            except Exception as exc:  # a missed beat is retried next time
                log.warning("heartbeat failed", extra={"job_id": job.id, "error": type(exc).__name__})

    beater = threading.Thread(target=beat, daemon=True, name="job-heartbeat")
    beater.start()
    log.info("job started", extra={"job_id": job.id, "kind": job.kind})
    try:
        result = run_retrain(engine, settings, job.tenant)
    except Exception as exc:  # a failed job is reported, the worker goes on
        done.set()
        jobs.finish(engine, job.id, error=type(exc).__name__)
        log.warning("job failed", extra={"job_id": job.id, "error": type(exc).__name__})
        return
    done.set()
    jobs.finish(engine, job.id, result=result)
    log.info("job finished", extra={"job_id": job.id})


def run_worker(engine: Engine, settings: Settings, *, once: bool = False, poll_seconds: float = 1.0,
               stop: threading.Event | None = None) -> int:
    """Take and run jobs until ``stop`` is set (or, with ``once``, until the queue is empty); returns jobs run."""
    stop = stop or threading.Event()
    name, ran = worker_name(), 0
    while not stop.is_set():
        lost = jobs.fail_stale(engine, timedelta(seconds=settings.job_stale_seconds))
        if lost:
            log.warning("jobs of a lost worker marked failed", extra={"count": lost})
        job = jobs.claim_next(engine, name, settings.max_running_jobs)
        if job is None:
            if once:
                break
            stop.wait(poll_seconds)
            continue
        run_job(engine, settings, job, name)
        ran += 1
    return ran
