"""Background jobs of one service process (retraining), with pollable status.

Jobs run in a worker thread so the request that starts one answers at once;
their status lives in this process (a job started on one replica is polled on
that replica; ``introrank retrain`` is the cron-friendly alternative).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("introrank.jobs")


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"  # queued | running | succeeded | failed
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity as None: JSON has neither, and a job's result is served as JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


class JobRunner:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[], dict[str, Any]]) -> Job:
        job = Job(uuid.uuid4().hex, kind)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, work), daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        job.state = "running"
        try:
            job.result = json_safe(work())
            job.state = "succeeded"
        except Exception as exc:  # a failed job is reported, never crashes the service
            job.error = type(exc).__name__  # the message may hold data (names, SQL): the type only
            job.state = "failed"
            log.warning("job failed", extra={"error": type(exc).__name__})
        job.finished_at = time.time()
