"""What a recommendation costs on a cold tenant-model cache versus a warm one.

Plain script, not a test:  .venv/bin/python benchmarks/bench_model_cache.py [--json PATH]

The service keeps each tenant's champion in a bounded cache in every process and
loads it from MLflow on the tenant's first request. This measures that first
request against the ones after it, for several tenants side by side:

1. Simulates one network per tenant (``--owners`` owners each, ending today),
   trains and registers each tenant's own champion (``introrank-<tenant>``,
   alias ``champion``) with ``run_training`` into ``<tmp>/store``, and imports
   the tenant's CSVs into the serving store with ``import_csvs``. One more
   tenant, ``warmup``, is set up the same way and is not reported: its request
   comes first in every server, so the process's own first-request costs (lazy
   imports, LightGBM's first predict) are not charged to the measured tenants.
2. Starts ``introrank serve --no-worker`` (one uvicorn worker) ``--restarts``
   times, each a fresh process with an empty model cache, score cache off
   (``INTRORANK_SCORE_CACHE_SECONDS=0``: every request is scored afresh, so cold
   and warm differ only by what the process has loaded). In each, per tenant:
   - cold: the first ``GET /v1/owners/{A}/recommendations?k=10`` of the tenant
     (its champion is loaded from MLflow inside this request);
   - model warm, owner cold: the tenant's first request for another owner B;
   - warm: ``--warm`` further requests for owner A.
   Each response's ``model_version`` must be the tenant's own (``<tenant>:1``).
3. In-process, ``load_champion_model`` per tenant (median of 3): the load alone.

Timing is wall time on loopback with a keep-alive client; the server's CPU
(user+system of its process tree) is reported beside the cold request. The
temporary folder is deleted unless ``--keep`` is given; the server is killed at
the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_world import BIN, ServerCpu, free_port, git_state, simulation_start, start, stop, wait_until  # noqa: E402

from introrank.service.serving.model_holder import load_champion_model  # noqa: E402
from introrank.service.settings import Settings  # noqa: E402
from introrank.service.store.csv_import import import_csvs  # noqa: E402
from introrank.service.store.engine import make_engine  # noqa: E402
from introrank.service.store.keys import create_api_key  # noqa: E402
from introrank.training.datasets import load_csv_dir  # noqa: E402
from introrank.training.pipeline import run_training  # noqa: E402
from introrank.training.simulate import simulate_network, write_network  # noqa: E402

WARMUP = "warmup"


def setup_tenant(tmp: Path, settings: Settings, tenant: str, owners: int, seed: int, months: int) -> dict:
    """Simulate, train and register the tenant's champion, import its data; returns key and owners."""
    folder = tmp / f"net-{tenant}"
    write_network(simulate_network(owners, seed, months, start=simulation_start(months)), folder)
    data = load_csv_dir(folder)
    started = time.perf_counter()
    outcome = run_training(data, settings, tenant=tenant)
    if outcome.decision is None or not outcome.decision.promoted:
        raise SystemExit(f"{tenant}: training did not register a champion")
    trained_s = time.perf_counter() - started
    engine = make_engine(settings.resolved_database_url)
    try:
        import_csvs(engine, tenant, folder / "owners.csv", folder / "contacts.csv", folder / "events.csv")
        key = create_api_key(engine, tenant, scopes=("read",))
    finally:
        engine.dispose()
    biggest = data.contacts.groupby("owner_id").size().sort_values(ascending=False, kind="stable")
    print(f"{tenant}: {len(data.contacts):,} contacts, {len(data.events):,} events; champion "
          f"{outcome.decision.version} trained in {trained_s:.1f} s", flush=True)
    return {"key": key, "owners": [str(o) for o in biggest.index[:2]],
            "contacts": [int(n) for n in biggest.iloc[:2]], "events": int(len(data.events))}


def timed_get(client: httpx.Client, path: str, tenant: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    served = response.json()["model_version"]
    if served != f"{tenant}:1":
        raise SystemExit(f"{tenant}: served {served!r}, not its own champion")
    return elapsed


def one_server(tmp: Path, tenants: dict[str, dict], warm: int, k: int, run: int) -> dict[str, dict]:
    port = free_port()
    env = {**os.environ, "INTRORANK_DATA_DIR": str(tmp / "store"), "INTRORANK_SCORE_CACHE_SECONDS": "0",
           "PYTHONPATH": str(ROOT)}
    for foreign in ("INTRORANK_DATABASE_URL", "INTRORANK_MLFLOW_TRACKING_URI"):
        env.pop(foreign, None)
    log = tmp / f"serve-{run}.log"
    proc = start([str(BIN / "introrank"), "serve", "--no-worker", "--port", str(port)], env, log)
    try:
        wait_until(f"http://127.0.0.1:{port}/healthz", proc, log, timeout=180)
        out: dict[str, dict] = {}
        for tenant, info in tenants.items():
            a, b = info["owners"]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": info["key"]},
                              timeout=120) as client:
                with ServerCpu(proc.pid) as cold_cpu:
                    cold = timed_get(client, f"/v1/owners/{a}/recommendations?k={k}", tenant)
                with ServerCpu(proc.pid) as other_cpu:
                    other_owner = timed_get(client, f"/v1/owners/{b}/recommendations?k={k}", tenant)
                with ServerCpu(proc.pid) as warm_cpu:
                    warm_ms = [timed_get(client, f"/v1/owners/{a}/recommendations?k={k}", tenant)
                               for _ in range(warm)]
            out[tenant] = {"cold_ms": cold, "cold_server_cpu_ms": cold_cpu.per(1),
                           "model_warm_owner_cold_ms": other_owner, "model_warm_owner_cold_cpu_ms": other_cpu.per(1),
                           "warm_ms": warm_ms, "warm_server_cpu_ms_per_request": warm_cpu.per(warm)}
        return out
    finally:
        stop(proc)


def load_alone(settings: Settings, tenant: str) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        model = load_champion_model(settings, tenant)
        times.append((time.perf_counter() - started) * 1000)
        assert model is not None and model.version == f"{tenant}:1"
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=3, help="Measured tenants (each with its own champion).")
    parser.add_argument("--owners", type=int, default=8, help="Simulated owners per tenant.")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=3, help="Fresh server processes (cold samples each).")
    parser.add_argument("--warm", type=int, default=30, help="Warm requests per tenant per server.")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", type=Path, help="Write every figure here.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args()

    results: dict = {"args": vars(args) | {"json": str(args.json) if args.json else None},
                     "tree": git_state(), "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                     "load_average_before": os.getloadavg()}
    tmp = Path(tempfile.mkdtemp(prefix="bench_model_cache_"))
    try:
        # One LightGBM thread for the setup (a shared machine); a low gate minimum so each
        # tenant's first model is promoted from these small networks. Neither is measured.
        settings = Settings(data_dir=tmp / "store", train_threads=1, gate_min_queries=1)
        names = [WARMUP] + [f"tenant{i}" for i in range(1, args.tenants + 1)]
        tenants = {name: setup_tenant(tmp, settings, name, args.owners, args.seed + i, args.months)
                   for i, name in enumerate(names)}
        runs = [one_server(tmp, tenants, args.warm, args.k, run) for run in range(args.restarts)]
        rows = {}
        for name in names[1:]:
            cold = [r[name]["cold_ms"] for r in runs]
            warm = [ms for r in runs for ms in r[name]["warm_ms"]]
            rows[name] = {
                "contacts_owner_a": tenants[name]["contacts"][0], "events": tenants[name]["events"],
                "cold_ms": cold, "cold_median_ms": float(np.median(cold)),
                "cold_server_cpu_median_ms": float(np.median([r[name]["cold_server_cpu_ms"] for r in runs])),
                "model_warm_owner_cold_median_ms": float(np.median([r[name]["model_warm_owner_cold_ms"]
                                                                     for r in runs])),
                "model_warm_owner_cold_cpu_median_ms": float(np.median([r[name]["model_warm_owner_cold_cpu_ms"]
                                                                         for r in runs])),
                "warm_server_cpu_ms_per_request": float(np.median([r[name]["warm_server_cpu_ms_per_request"]
                                                                    for r in runs])),
                "warm_n": len(warm), "warm_p50_ms": float(np.percentile(warm, 50)),
                "warm_p90_ms": float(np.percentile(warm, 90)),
                "load_alone_median_ms": load_alone(settings, name),
            }
        results["tenants"] = rows
        results["load_average_after"] = os.getloadavg()
        print_table(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def print_table(results: dict) -> None:
    a = results["args"]
    print(f"\nrecommendations k={a['k']}, score cache off; {a['restarts']} fresh servers, cold = first request "
          f"of the tenant in each, warm = {a['warm']} more per server")
    print("| tenant | contacts (owner A) | cold: tenant's first request, median (each run) | server CPU | "
          "model warm, another owner's first request | server CPU | warm p50 / p90 | server CPU per request | "
          "champion load alone (in-process) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results["tenants"].items():
        each = " / ".join(f"{ms:.0f}" for ms in r["cold_ms"])
        print(f"| {name} | {r['contacts_owner_a']:,} | {r['cold_median_ms']:.0f} ms ({each}) | "
              f"{r['cold_server_cpu_median_ms']:.0f} ms | {r['model_warm_owner_cold_median_ms']:.0f} ms | "
              f"{r['model_warm_owner_cold_cpu_median_ms']:.0f} ms | "
              f"{r['warm_p50_ms']:.1f} / {r['warm_p90_ms']:.1f} ms | {r['warm_server_cpu_ms_per_request']:.1f} ms | "
              f"{r['load_alone_median_ms']:.0f} ms |")
    tree = results["tree"]
    print(f"\ncommit {tree['commit']} ({tree['changed_files']} files changed or untracked), "
          f"started {results['started_utc']}")
    print("load average (1/5/15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
        *results["load_average_before"], *results["load_average_after"]))


if __name__ == "__main__":
    main()
