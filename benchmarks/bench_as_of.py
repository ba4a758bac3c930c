"""Backtests (``as_of``) beside the live cold path, in-process, on the store a ``bench_service.py --keep`` run left.

Plain script, not a test. First keep a benchmark world (2,000 contacts, a year of
events, the 40,000 ingested during the run and the served-list log of its requests):

    .venv/bin/python benchmarks/bench_service.py --keep --skip-mlflow --profile 0 ...
    .venv/bin/python benchmarks/bench_as_of.py --world /tmp/introrank-bench-service-XXXX [--json PATH]

The store is copied to a temporary folder first (the live calls log their lists).
Times are CPU medians of this thread (``time.thread_time``) over ``--n`` calls
after 3 warm-up calls, so they hold on a busy machine; wall medians and the load
average are printed beside them. Measured, with the profile cache warm as a
server has it and the score cache off:

- the live cold recommendation (``serve_recommendations``, which also logs the list);
- ``?as_of=`` at ``--days`` before the owner's newest stored event and 1 s after the
  owner's last served list (where ``impressions_as_of`` has the served log to replay),
  whole call, and its parts: ``states_as_of`` and ``impressions_as_of``;
- ``replay_states`` (every event before ``as_of`` replayed) for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import introrank
from introrank.service.serving.candidates import replay_states, states_as_of
from introrank.service.serving.model_holder import load_served_model
from introrank.service.serving.profile_cache import ProfileCache
from introrank.service.serving.recommend import serve_recommendations
from introrank.service.settings import Settings
from introrank.service.store.engine import make_engine
from introrank.service.store.impressions import impressions_as_of

TENANT = "bench"  # service_world's tenant
DAY = 86400.0


def median_ms(fn: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(3):
        fn()
    cpu, wall = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    return {"cpu_ms": float(np.median(cpu)), "wall_ms": float(np.median(wall))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True, help="the folder bench_service.py --keep printed")
    parser.add_argument("--days", type=float, nargs="*", default=[1.0, 30.0, 180.0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="introrank-bench-as-of-") as tmp:
        store = Path(tmp) / "store"
        shutil.copytree(args.world / "store", store, symlinks=True)
        with sqlite3.connect(store / "introrank.db") as db:
            tenant_id, owner, newest = db.execute(
                "SELECT a.tenant_id, a.owner_id, MAX(a.last_ts) FROM pair_aggregates a "
                "JOIN tenants t ON t.id = a.tenant_id WHERE t.name = ? "
                "GROUP BY a.tenant_id, a.owner_id ORDER BY COUNT(*) DESC LIMIT 1", (TENANT,)).fetchone()
            served_last = db.execute("SELECT MAX(served_at) FROM served_recommendations WHERE tenant_id = ? "
                                     "AND owner_id = ?", (tenant_id, owner)).fetchone()[0]
            pairs, events = db.execute("SELECT (SELECT COUNT(*) FROM pair_aggregates WHERE owner_id = ?), "
                                       "(SELECT COUNT(*) FROM events WHERE owner_id = ?)", (owner, owner)).fetchone()
        settings = Settings(data_dir=store)
        engine = make_engine(settings.resolved_database_url, migrate=False)
        served = load_served_model(settings, TENANT)
        served.ranker.compile()  # a server compiles in the background before the cold path is measured
        profiles = ProfileCache()

        def recommend(as_of: float | None = None) -> Callable[[], object]:
            return lambda: serve_recommendations(engine, tenant_id, owner, served, args.k, as_of=as_of,
                                                 profiles=profiles, scores=None)

        def on_conn(fn: Callable, *a: object) -> Callable[[], object]:
            def call() -> object:
                with engine.connect() as conn:
                    return fn(conn, tenant_id, owner, *a)
            return call

        load = [os.getloadavg()]
        out: dict = {"owner": owner, "pairs": pairs, "events": events, "n": args.n,
                     "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                              text=True, cwd=Path(__file__).parent).stdout.strip(),
                     "introrank": str(Path(introrank.__file__).parent),  # the tree measured (PYTHONPATH)
                     "cold": median_ms(recommend(), args.n), "as_of": {}}
        points = {f"newest - {days:g}d": float(newest) - days * DAY for days in args.days}
        if served_last is not None:  # a backtest after lists were served: impressions are replayed
            points["last served + 1 s"] = float(served_last) + 1.0
        for name, at in points.items():
            row = {"whole": median_ms(recommend(at), args.n),
                   "states_as_of": median_ms(on_conn(states_as_of, at), args.n),
                   "impressions_as_of": median_ms(on_conn(impressions_as_of, at), args.n),
                   "replay_states": median_ms(on_conn(replay_states, at), max(args.n // 5, 3))}
            row["ratio_cpu_to_cold"] = row["whole"]["cpu_ms"] / out["cold"]["cpu_ms"]
            out["as_of"][name] = row
        load.append(os.getloadavg())
        out["load_average"] = load
        engine.dispose()

    print(f"introrank from {out['introrank']}; the script's commit {out['commit']}")
    print(f"owner {owner}: {pairs:,} pairs, {events:,} events; "
          f"load average {load[0][0]:.2f} -> {load[1][0]:.2f}; CPU / wall ms, medians of {args.n}")
    print(f"{'':<24}{'whole call':>16}{'states_as_of':>16}{'impressions':>16}{'replay_states':>16}{'x cold':>8}")
    print(f"{'cold (live)':<24}{_pair(out['cold']):>16}")
    for point, row in out["as_of"].items():
        print(f"{'as_of ' + point:<24}{_pair(row['whole']):>16}{_pair(row['states_as_of']):>16}"
              f"{_pair(row['impressions_as_of']):>16}{_pair(row['replay_states']):>16}"
              f"{row['ratio_cpu_to_cold']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _pair(t: dict[str, float]) -> str:
    return f"{t['cpu_ms']:.1f} / {t['wall_ms']:.1f}"


if __name__ == "__main__":
    main()
