"""Prometheus metrics and JSON logs with request ids.

Log records carry ids, counts and timings only; names and free text never reach
a log line (the formatter only emits whitelisted ``extra`` keys).
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from introrank.service.store.wal_checkpointer import WalCheckpointer

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
SAFE_EXTRA_KEYS = ("request_id", "method", "route", "status", "ms", "model_version", "error", "inserted",
                   "duplicates", "rows", "seconds", "tenant_id", "reason")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"ts": round(time.time(), 3), "level": record.levelname, "logger": record.name,
                   "msg": record.getMessage(), "request_id": request_id_var.get()}
        payload.update({k: getattr(record, k) for k in SAFE_EXTRA_KEYS if hasattr(record, k)})
        return json.dumps(payload, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("introrank")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class ServiceMetrics:
    """One registry per app, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("introrank_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("introrank_request_seconds", "Request latency", ["method", "route"],
                                 buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.04, 0.06, 0.1, 0.25, 0.5, 1, 2.5),
                                 registry=self.registry)
        self.events = Counter("introrank_events_ingested_total", "Events ingested", ["result"],
                              registry=self.registry)
        self.recommendations = Counter("introrank_recommendations_served_total", "Recommendation lists served",
                                       ["model_version"], registry=self.registry)
        self.served_log = Counter("introrank_served_lists_logged_total", "Served lists by how their log was "
                                  "written: now, queued, written_late or dropped", ["result"], registry=self.registry)
        self._checkpointer: WalCheckpointer | None = None
        self.model_info = Gauge("introrank_model_info", "Served model (value 1)", ["model_version"],
                                registry=self.registry)

    def watch_checkpointer(self, checkpointer: WalCheckpointer) -> None:
        """Export the WAL checkpointer's health, read at each scrape (alert on ``up == 0``)."""
        first = self._checkpointer is None
        self._checkpointer = checkpointer
        if not first:  # the gauges read self._checkpointer: a restarted lifespan just swaps it
            return
        up = Gauge("introrank_wal_checkpointer_up", "1 while the SQLite WAL checkpointer thread is alive and "
                   "its last rounds succeeded, else 0", registry=self.registry)
        up.set_function(lambda: 1.0 if self._checkpointer is not None and self._checkpointer.health().ok else 0.0)
        failed = Gauge("introrank_wal_checkpoint_failed_rounds", "WAL checkpoint rounds that raised, since start",
                       registry=self.registry)
        failed.set_function(lambda: float(self._checkpointer.health().failed_rounds if self._checkpointer else 0))

    def set_model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(model_version=version).set(1)
