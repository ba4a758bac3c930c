"""The served model: loaded once in the lifespan, swapped atomically on reload.

Requests read ``holder.current`` once and use that snapshot to the end, so a
reload in the middle of a request never mixes two models. With no champion, or
the registry unreachable, the heuristic ranker serves and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from introrank.model.baselines import HeuristicRanker
from introrank.model.constants import HEURISTIC_VERSION
from introrank.model.ranker import ModelSchemaError
from introrank.service.settings import Settings

log = logging.getLogger("introrank.model")


@dataclass(frozen=True)
class ServedModel:
    ranker: Any  # IntroRanker or HeuristicRanker
    version: str
    trained_at: float | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    problem: str | None = None  # why the heuristic serves, when it does

    @property
    def is_heuristic(self) -> bool:
        return self.version == HEURISTIC_VERSION


def heuristic(problem: str) -> ServedModel:
    return ServedModel(HeuristicRanker(), HEURISTIC_VERSION, problem=problem)


def load_served_model(settings: Settings) -> ServedModel:
    """The champion from the registry, or the heuristic with the reason it could not load."""
    try:
        from mlflow import MlflowClient

        from introrank.service.store.model_registry import configure_tracking, load_champion

        client: MlflowClient = configure_tracking(settings)
        champion = load_champion(client)
    except ModelSchemaError as exc:  # trained on other features: retraining fixes it
        log.warning("champion has another feature schema, serving the heuristic")
        return heuristic(str(exc))
    except Exception as exc:  # registry down, corrupt artifact: serve anyway
        log.warning("champion could not be loaded, serving the heuristic", extra={"error": type(exc).__name__})
        return heuristic(f"model registry unavailable ({type(exc).__name__})")
    if champion is None:
        return heuristic("no champion model registered yet; run `introrank train`")
    champion.ranker.num_threads = 1
    metrics = {}
    if champion.run_id:
        try:
            metrics = {k: v for k, v in client.get_run(champion.run_id).data.metrics.items()
                       if k.startswith("model.")}
        except Exception:  # metrics are informative only
            metrics = {}
    return ServedModel(champion.ranker, champion.version, champion.created_at, champion.run_id, metrics)


class ModelHolder:
    """Holds the current ServedModel; ``reload`` replaces it in one assignment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current: ServedModel = heuristic("model not loaded yet")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def reload(self) -> ServedModel:
        with self._lock:  # one loader at a time; readers never wait
            fresh = load_served_model(self.settings)
            self.current = fresh
        log.info("model loaded", extra={"model_version": fresh.version})
        return fresh

    def start_polling(self, interval: float) -> None:
        if interval <= 0:
            return
        self._poller = threading.Thread(target=self._poll, args=(interval,), daemon=True)
        self._poller.start()

    def _poll(self, interval: float) -> None:
        """Ask the registry which version the alias names; load only when it moved."""
        while not self._stop.wait(interval):
            started = time.monotonic()
            try:
                from introrank.service.store.model_registry import champion_version, configure_tracking

                latest = champion_version(configure_tracking(self.settings))
            except Exception as exc:  # registry down: keep serving what we have
                log.warning("registry poll failed", extra={"error": type(exc).__name__})
                continue
            if latest is not None and latest != self.current.version:
                fresh = self.reload()
                log.info("new champion picked up", extra={"model_version": fresh.version,
                                                          "seconds": round(time.monotonic() - started, 3)})

    def stop(self) -> None:
        self._stop.set()
