"""Where a recommendation's time goes: each stage of the live path, called in-process.

Mirrors ``introrank.service.serving.recommend.recommend`` stage by stage, with the
ranking itself timed as the one function every path calls
(``introrank.model.ranking.rank``). A stage whose function changed shape is
reported as an error rather than failing the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from service_world import TENANT

from introrank.model.features import static_features
from introrank.model.ranking import rank, score
from introrank.service.serving import recommend as rec
from introrank.service.serving.candidates import candidate_features, load_contacts, load_owner_record
from introrank.service.serving.model_holder import load_served_model
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.serving.score_cache import ScoreCache
from introrank.service.serving.state_cache import StateCache
from introrank.service.settings import Settings
from introrank.service.store.aggregates import load_owner_states
from introrank.service.store.engine import make_engine, write_connection
from introrank.service.store.impressions import load_impressions


def stage_breakdown(settings: Settings, owner: str, tenant_id: int, k: int, n: int) -> dict[str, dict]:
    """Median wall and CPU (thread) ms of each stage over ``n`` calls (after 3 warm-up calls)."""
    served = load_served_model(settings, TENANT)
    if served.ranker.compile():  # the server compiles in the background; here before timing
        pass
    engine = make_engine(settings.resolved_database_url, migrate=False)
    profiles, scores, held = ProfileCache(), ScoreCache(max_age_seconds=3600), StateCache()
    timings: dict[str, list[tuple[float, float]]] = {}
    errors: dict[str, str] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None
        timings.setdefault(name, []).append(((time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000))
        return out

    def whole(cache: ScoreCache | None, states: StateCache | None = None) -> rec.RecommendationList:
        with engine.connect() as conn:
            return rec.recommend(conn, tenant_id, owner, served, k, cache=profiles, scores=cache, states=states)

    def once() -> None:
        at = time.time()
        with engine.connect() as conn:
            frame = timed("candidates.load_owner_record", lambda: load_owner_record(conn, tenant_id, owner)).frame()
            states = timed("aggregates.load_owner_states (miss)", lambda: load_owner_states(conn, tenant_id, owner))
            contacts = timed("candidates.load_contacts (miss, no profile cache)",
                             lambda: load_contacts(conn, tenant_id, owner))
            features, rows, idx = timed("candidates.candidate_features (miss, no profile cache)",
                                        lambda: candidate_features(states, frame, contacts, at, None))
            entry = timed("recommend.score_candidates (miss)",
                          lambda: rec.score_candidates(features, rows, idx, served, at))
            counters = timed("impressions.load_impressions", lambda: load_impressions(conn, tenant_id, owner))
            impressions = entry.impressions_of(counters)
            fresh = score(served.ranker, features, entry.scored.companies, entry.scored.do_not_recommend)
            timed("ranking.rank (explains every chosen row)",
                  lambda: rank(fresh, served.ranker, k, impressions=impressions))
            timed("ranking.rank (chosen rows already explained)",
                  lambda: rank(fresh, served.ranker, k, impressions=impressions))
            timed("  ranker.raw_score (all rows)", lambda: served.ranker.raw_score(features))
            timed("  ranker.contributions (k rows)", lambda: served.ranker.contributions(features.iloc[:k]))
            timed("  features.static_features", lambda: static_features(
                states.pairs.iloc[idx].reset_index(drop=True), frame, contacts, None))
            items = rec.pick(entry, served, k, impressions=impressions)
        result = rec.RecommendationList(owner, at, served.version, "bench", items)
        with write_connection(engine) as conn:
            timed("recommend.log_served", lambda: rec.log_served(conn, tenant_id, result))
        timed("whole recommend(), score cache off", lambda: whole(None))
        timed("whole recommend(), score cache off, states cache on (the server's miss)", lambda: whole(None, held))
        timed("whole recommend(), score cache hit", lambda: whole(scores))

    for _ in range(3):
        once()
    timings.clear()
    for _ in range(n):
        once()
    engine.dispose()
    out: dict[str, dict] = {name: {"wall_ms": float(np.median([w for w, _ in v])),
                                   "cpu_ms": float(np.median([c for _, c in v]))} for name, v in timings.items()}
    out.update({name: {"error": e} for name, e in errors.items()})
    return out
