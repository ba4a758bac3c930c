"""The served models: each tenant's champion, else the operator's base model, else the heuristic.

Tenant models are loaded on a tenant's first request and kept in a bounded LRU
cache. A poller asks the registry, every ``model_poll_seconds``, whether the
champion alias of a loaded tenant (or of the base) moved, and swaps the new one
in; so every worker and replica serves a new champion within that interval
without a restart, whichever process trained it. A load that fails keeps the
model that was serving (the heuristic only when nothing was ever loaded) and is
counted for ``/readyz``. Requests take one ``ServedModel`` and use it to the end,
so a swap in the middle of a request never mixes two models.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from introrank.model.baselines import HeuristicRanker
from introrank.model.constants import HEURISTIC_VERSION
from introrank.model.ranker import ModelSchemaError
from introrank.service.settings import Settings

log = logging.getLogger("introrank.model")

NOT_LOADED = object()  # a cache slot that was never filled (distinct from "no champion": None)


@dataclass(frozen=True)
class ServedModel:
    ranker: Any  # IntroRanker or HeuristicRanker
    version: str  # "acme:3", "base:2" or "heuristic"
    trained_at: float | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    problem: str | None = None  # why the heuristic serves, when it does
    registry_version: str | None = None  # the registry's version number behind ``version``

    @property
    def is_heuristic(self) -> bool:
        return self.version == HEURISTIC_VERSION


def heuristic(problem: str) -> ServedModel:
    return ServedModel(HeuristicRanker(), HEURISTIC_VERSION, problem=problem)


class ModelLoadError(RuntimeError):
    """The registry could not be read or a champion could not be loaded (the cause is chained)."""


def load_champion_model(settings: Settings, tenant: str | None) -> ServedModel | None:
    """``tenant``'s champion (None: the base model) as a ServedModel; None when it has none.

    Raises ``ModelLoadError`` when the registry or the artifact fails, and
    ``ModelSchemaError`` when the champion reads other features than this code.
    """
    try:
        from introrank.service.store.model_registry import configure_tracking, load_champion

        client = configure_tracking(settings)
        champion = load_champion(client, tenant)
    except ModelSchemaError:
        raise
    except Exception as exc:  # registry down, corrupt artifact
        raise ModelLoadError(f"model registry unavailable ({type(exc).__name__})") from exc
    if champion is None:
        return None
    champion.ranker.num_threads = settings.score_threads
    if settings.compile_models:
        compile_in_background(champion.ranker, settings.resolved_compiled_models_dir)
    metrics = {}
    if champion.run_id:
        try:
            metrics = {k: v for k, v in client.get_run(champion.run_id).data.metrics.items()
                       if k.startswith("model.")}
        except Exception:  # metrics are informative only
            metrics = {}
    return ServedModel(champion.ranker, champion.label, champion.created_at, champion.run_id, metrics,
                       registry_version=champion.version)


def compile_in_background(ranker: Any, cache_dir: Path | None = None) -> threading.Thread:
    """Compile ``ranker`` on a thread of its own: requests score with LightGBM until it is ready
    (the same scores), so a model load never waits seconds for LLVM. ``cache_dir``: another
    process's compile of the same model is loaded from there instead."""

    def run() -> None:
        if ranker.compile(cache_dir):
            log.info("model compiled", extra={"seconds": round(ranker.compiled.seconds, 2),
                                               "from_cache": ranker.compiled.loaded})

    thread = threading.Thread(target=run, daemon=True, name="model-compile")
    thread.start()
    return thread


def load_served_model(settings: Settings, tenant: str) -> ServedModel:
    """One-off resolution without a cache (CLI pushes): own champion, base, or the heuristic."""
    problem = "no model trained for this tenant or as the base yet; run `introrank train`"
    for owner in (tenant, None):
        try:
            model = load_champion_model(settings, owner)
        except (ModelLoadError, ModelSchemaError) as exc:
            log.warning("champion could not be loaded", extra={"error": type(exc).__name__})
            problem = str(exc)
            continue
        if model is not None:
            return model
    return heuristic(problem)


class ModelHolder:
    """Per-tenant champions in an LRU cache, the base model, polling, and load failures."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._own: OrderedDict[str, ServedModel | None] = OrderedDict()  # None: no champion of its own
        self._base: ServedModel | None | object = NOT_LOADED
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.failed_loads = 0
        self.last_problem: str | None = None

    # -- resolution -----------------------------------------------------------------------
    def for_tenant(self, tenant: str) -> ServedModel:
        """The model serving ``tenant`` now (loads it on first use)."""
        with self._lock:
            cached = tenant in self._own
            if cached:
                self._own.move_to_end(tenant)
                own = self._own[tenant]
        if not cached:  # loaded outside the lock: one tenant's first load never stalls the others
            own = self._load(tenant, keep=None)
            with self._lock:
                self._remember(tenant, own)
        return own if own is not None else self.base()

    def base(self) -> ServedModel:
        base = self._base
        if base is NOT_LOADED:
            base = self._load(None, keep=None)
            with self._lock:
                self._base = base
        if isinstance(base, ServedModel):
            return base
        return heuristic(self.last_problem or "no model trained for this tenant or as the base yet; "
                         "run `introrank train --tenant T` or `introrank train --base`")

    def _remember(self, tenant: str, model: ServedModel | None) -> None:
        self._own[tenant] = model
        self._own.move_to_end(tenant)
        while len(self._own) > self.settings.model_cache_size:
            self._own.popitem(last=False)

    def _load(self, tenant: str | None, keep: ServedModel | None) -> ServedModel | None:
        """A fresh load; on failure, ``keep`` (what served before) and the failure is counted."""
        try:
            model = load_champion_model(self.settings, tenant)
        except (ModelLoadError, ModelSchemaError) as exc:
            self.failed_loads += 1
            self.last_problem = str(exc)
            log.warning("champion could not be loaded; keeping what served", extra={"error": type(exc).__name__})
            return keep
        if model is not None:
            log.info("model loaded", extra={"model_version": model.version})
        return model

    # -- reload and polling ---------------------------------------------------------------
    def reload(self, tenant: str) -> ServedModel:
        """Load ``tenant``'s champion and the base again now (``POST /v1/admin/reload``)."""
        own = self._load(tenant, keep=self._own.get(tenant))
        base = self._load(None, keep=self._base if isinstance(self._base, ServedModel) else None)
        with self._lock:
            self._remember(tenant, own)
            self._base = base
        return self.for_tenant(tenant)

    def poll_once(self) -> int:
        """Swap in every loaded champion whose alias moved; returns how many were swapped."""
        from introrank.service.store.model_registry import champion_version, configure_tracking

        try:
            client = configure_tracking(self.settings)
        except Exception as exc:  # registry down: keep serving what we have
            log.warning("registry poll failed", extra={"error": type(exc).__name__})
            return 0
        with self._lock:
            entries: list[tuple[str | None, ServedModel | None]] = list(self._own.items())
            if self._base is not NOT_LOADED:
                entries.append((None, self._base if isinstance(self._base, ServedModel) else None))
        swapped = 0
        for tenant, current in entries:
            try:
                latest = champion_version(client, tenant)
            except Exception as exc:
                log.warning("registry poll failed", extra={"error": type(exc).__name__})
                return swapped
            if latest == (current.registry_version if current is not None else None):
                continue
            fresh = self._load(tenant, keep=current)
            with self._lock:
                if tenant is None:
                    self._base = fresh
                elif tenant in self._own:
                    self._own[tenant] = fresh
            swapped += fresh is not current
        return swapped

    def start_polling(self, interval: float) -> None:
        if interval <= 0:
            return
        self._poller = threading.Thread(target=self._poll, args=(interval,), daemon=True, name="model-poller")
        self._poller.start()

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
