"""Benchmark the introrank HTTP service (and MLflow's scoring server) on this machine.

Plain script, not a test:  .venv/bin/python benchmarks/bench_service.py [--json PATH]

1. Builds the world (``service_world.py``): simulates a network, trains and registers a
   champion into a temporary MLflow store (``<tmp>/store/mlflow.db``) with
   ``run_training``, and cuts out ONE owner with exactly ``--contacts`` (2,000)
   contacts, every one of them with history.
2. Loads that owner into the serving store (``<tmp>/store/introrank.db``) through the
   API (``PUT`` owner and contacts, ``POST /v1/events`` in batches of 1,000), which
   keeps ``pair_aggregates`` current in the events' transaction.
3. Runs ``introrank serve`` (uvicorn, one worker) as a subprocess on loopback with
   ``INTRORANK_DATA_DIR=<tmp>/store`` and measures:
   - sequential latency of ``GET /v1/owners/{owner}/recommendations?k=10``
     (keep-alive httpx client, after a warm-up);
   - closed-loop throughput with ``--threads`` client threads for ``--duration`` s;
   - the sequential latency again, after the throughput run logged more
     served lists for the owner (the impressions query reads them);
   - ingestion: ``POST /v1/events`` batches of 1,000 fresh events (new event ids,
     existing contacts), bodies serialised before the clock starts; once in time
     order (newer than anything stored) and once spread over the last 30 days
     (late events for most pairs).
   The server runs with the product's default score cache (``INTRORANK_SCORE_CACHE_SECONDS``
   = 60: an owner's scored list is reused until new events, a profile edit, a new
   model or 60 s end it; re-ranking, impressions and logging run on every request).
   A second server with the cache off (``=0``) then times the same sequential
   requests, so the figures show what every request would cost if scored afresh.
4. Runs ``mlflow models serve -m models:/introrank@champion --env-manager local -w 1``
   and times ``POST /invocations`` with the same owner's 2,000 feature rows
   (computed with ``introrank.service.serving.candidates.candidate_features`` from the stored
   aggregates, i.e. exactly what the service scores), ``dataframe_split`` format.

5. ``--profile N`` times each stage of the live path in-process (``service_stages.py``,
   ranking through ``introrank.model.ranking.rank`` like every path).

Every subprocess is killed at the end; the temporary folder is deleted unless
``--keep`` is given. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # servicekit: helpers that drive the API

from service_report import table  # noqa: E402
from service_stages import stage_breakdown  # noqa: E402
from service_world import (  # noqa: E402
    BIN,
    TENANT,
    ServerCpu,
    build_world,
    free_port,
    git_state,
    start,
    stop,
    wait_for_log,
    wait_until,
)
from servicekit import event_items, load_through_api  # noqa: E402

from introrank.model.constants import DIRECTIONS, EVENT_TYPES  # noqa: E402
from introrank.model.dataset import Dataset  # noqa: E402
from introrank.model.features import FEATURE_NAMES  # noqa: E402
from introrank.service.serving.candidates import candidate_features, load_contacts, load_owner  # noqa: E402
from introrank.service.settings import Settings  # noqa: E402
from introrank.service.store.aggregates import load_owner_states  # noqa: E402
from introrank.service.store.engine import make_engine  # noqa: E402
from introrank.service.store.model_registry import registered_name  # noqa: E402

DAY = 86400.0


# --- measurements -----------------------------------------------------------------------


@dataclass
class Latency:
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        a = np.asarray(self.ms)
        return {"n": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
                "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "max_ms": float(a.max())}


def sequential(send, n: int, warmup: int) -> dict[str, float]:  # noqa: ANN001
    for _ in range(warmup):
        send()
    lat = Latency()
    for _ in range(n):
        t0 = time.perf_counter()
        send()
        lat.ms.append((time.perf_counter() - t0) * 1000)
    return lat.summary()


def recommendations_sender(client: httpx.Client, owner: str, k: int, check: str | None = None):  # noqa: ANN201
    url = f"/v1/owners/{owner}/recommendations"

    def send() -> None:
        response = client.get(url, params={"k": k})
        response.raise_for_status()
        if check is not None and response.json()["model_version"] != check:
            raise SystemExit(f"served model {response.json()['model_version']}, expected {check}")

    return send


def throughput(base: str, key: str, owner: str, k: int, threads: int, duration: float) -> dict[str, float]:
    """Closed loop: each thread sends its next request as soon as the last one answered."""
    stop_at = time.monotonic() + duration
    counts, errors, lat = [0] * threads, [0] * threads, [Latency() for _ in range(threads)]

    def worker(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            url = f"/v1/owners/{owner}/recommendations"
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                ok = client.get(url, params={"k": k}).status_code == 200
                lat[i].ms.append((time.perf_counter() - t0) * 1000)
                counts[i] += ok
                errors[i] += not ok

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=duration + 120)
    elapsed = time.perf_counter() - started
    merged = Latency([m for x in lat for m in x.ms])
    return {"threads": threads, "seconds": elapsed, "requests": sum(counts), "errors": sum(errors),
            "req_per_s": sum(counts) / elapsed, **{f"loaded_{k}": v for k, v in merged.summary().items()}}


def cold_latency(env: dict[str, str], tmp: Path, key: str, owner: str, args: argparse.Namespace) -> dict:
    """Sequential recommendations from a server whose score cache is off: every request scores afresh.

    Then the same owner's backtests (``?as_of=``) at ``--as-of-days`` before now, on the same server:
    the ratio to the live cold path is the issue's figure (at most 2).
    """
    port = free_port()
    log = tmp / "introrank-serve-cold.log"
    proc = start([str(BIN / "introrank"), "serve", "--port", str(port), "--workers", "1"],
                 {**env, "INTRORANK_SCORE_CACHE_SECONDS": "0"}, log)
    try:
        wait_until(f"http://127.0.0.1:{port}/readyz", proc, log, 120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=120) as client:
            send = recommendations_sender(client, owner, args.k)
            send()  # loads the model, which starts compiling it in the background
            compiled_after = wait_for_log(log, '"model compiled"', proc, 300) if not args.no_compile else None
            for _ in range(args.warmup):
                send()
            load = os.getloadavg()
            with ServerCpu(proc.pid) as cpu:
                out = sequential(send, args.requests, 0)
            out["server_cpu_ms_per_request"] = cpu.per(args.requests)
            out["load_average"] = [load, os.getloadavg()]
            out["compiled_model"] = not args.no_compile
            out["seconds_until_compiled"] = compiled_after
            print(f"recommend, score cache off: {out}", flush=True)
            url = f"/v1/owners/{owner}/recommendations"
            out["as_of"] = {}
            for days in args.as_of_days:
                as_of = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=days)
                params = {"k": args.k, "as_of": as_of.isoformat()}

                def backtest(params: dict = params) -> None:
                    client.get(url, params=params).raise_for_status()

                load = os.getloadavg()
                with ServerCpu(proc.pid) as cpu:
                    timed = sequential(backtest, args.as_of_requests, 3)
                timed["server_cpu_ms_per_request"] = cpu.per(args.as_of_requests + 3)
                timed["load_average"] = [load, os.getloadavg()]
                timed["ratio_p50_to_cold"] = timed["p50_ms"] / out["p50_ms"]
                timed["ratio_cpu_to_cold"] = timed["server_cpu_ms_per_request"] / out["server_cpu_ms_per_request"]
                out["as_of"][f"{days:g}d"] = timed
                print(f"backtest as_of now-{days:g} days: {timed}", flush=True)
        return out
    finally:
        stop(proc)


def ingestion(client: httpx.Client, data: Dataset, batches: int, size: int, seed: int,
              in_order: bool = False) -> dict[str, float]:
    """Fresh events (new ids) for the owner's existing contacts.

    ``in_order``: times between the newest stored event and now, ascending, as a
    CRM streaming what just happened sends them. Otherwise times spread over the
    last 30 days, so most pairs receive events older than ones they already
    have (late events: the fold re-sorts each touched pair's recent events).
    """
    rng = np.random.default_rng(seed)
    n = batches * size
    now = time.time()
    if in_order:
        start = float(data.events["occurred_at"].max())
        times = np.sort(start + rng.random(n) * (now - start))
    else:
        times = np.sort(now - rng.random(n) * 30 * DAY)
    events = pd.DataFrame({
        "event_id": [f"bench-{seed}-{int(in_order)}-{i:07d}" for i in range(n)],
        "owner_id": data.owners["owner_id"].iloc[0],
        "contact_id": rng.choice(data.contacts["contact_id"].to_numpy(), n),
        "occurred_at": times.round(3),
        "type": rng.choice(np.array(EVENT_TYPES[:5]), n),  # no intros: leave the labels alone
        "direction": rng.choice(np.array(DIRECTIONS), n),
        "useful": "",
    })
    items = event_items(events)
    bodies = [json.dumps({"events": items[i:i + size]}).encode() for i in range(0, n, size)]
    headers = {"content-type": "application/json"}
    lat = Latency()
    inserted = 0
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        response = client.post("/v1/events", content=body, headers=headers)
        response.raise_for_status()
        lat.ms.append((time.perf_counter() - t0) * 1000)
        inserted += response.json()["inserted"]
    elapsed = time.perf_counter() - started
    if inserted != n:
        raise SystemExit(f"ingestion inserted {inserted} of {n} events")
    return {"batches": batches, "batch_size": size, "events": n, "seconds": elapsed,
            "events_per_s": n / elapsed, **{f"batch_{k}": v for k, v in lat.summary().items()}}


def feature_rows(settings: Settings, owner: str, tenant_id: int) -> tuple[pd.DataFrame, float]:
    """The owner's candidate features right now, from the stored aggregates (the live path)."""
    engine = make_engine(settings.resolved_database_url, migrate=False)
    at = time.time()
    with engine.connect() as conn:
        states = load_owner_states(conn, tenant_id, owner)
        features, _, _ = candidate_features(states, load_owner(conn, tenant_id, owner),
                                            load_contacts(conn, tenant_id, owner), at, None)
    engine.dispose()
    return features[list(FEATURE_NAMES)].astype(float), at


def mlflow_invocations(base: str, features: pd.DataFrame, n: int, warmup: int) -> dict[str, float]:
    data = features.astype(object).where(features.notna(), None).to_numpy().tolist()  # NaN -> null
    body = json.dumps({"dataframe_split": {"columns": list(features.columns), "data": data}}).encode()
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base, timeout=60) as client:
        first = client.post("/invocations", content=body, headers=headers)
        if first.status_code != 200:
            raise SystemExit(f"/invocations answered {first.status_code}: {first.text[:2000]}")
        predictions = first.json()["predictions"]
        if len(predictions) != len(features):
            raise SystemExit(f"/invocations returned {len(predictions)} rows for {len(features)}")

        def send() -> None:
            client.post("/invocations", content=body, headers=headers).raise_for_status()

        out = sequential(send, n, warmup)
    return {"rows": len(features), "body_bytes": len(body), **out}


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--mlflow-requests", type=int, default=300)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-cold", action="store_true", help="skip the score-cache-off latency run")
    parser.add_argument("--no-compile", action="store_true",
                        help="cold server scores with LightGBM (INTRORANK_COMPILE_MODELS=false)")
    parser.add_argument("--as-of-days", type=float, nargs="*", default=[1.0, 30.0, 180.0],
                        help="backtests (?as_of=) this many days before now, on the cold server")
    parser.add_argument("--as-of-requests", type=int, default=100)
    parser.add_argument("--profile", type=int, default=30, metavar="N",
                        help="time the recommend stages in-process over N calls (0 = off)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="introrank-bench-service-"))
    procs: list[subprocess.Popen] = []
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()}, "tree": git_state(),
                     "started_utc": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                     "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        world = build_world(tmp, args.owners, args.seed, args.months, args.contacts)
        settings, data, owner, tenant_id, key = world.settings, world.data, world.owner, world.tenant_id, world.key
        results["setup"] = dict(world.setup)
        info = world.setup

        port = free_port()
        env = {**os.environ, "INTRORANK_DATA_DIR": str(settings.data_dir), "PATH": f"{BIN}:{os.environ['PATH']}"}
        env.pop("INTRORANK_DATABASE_URL", None)
        env.pop("INTRORANK_MLFLOW_TRACKING_URI", None)
        log = tmp / "introrank-serve.log"
        procs.append(start([str(BIN / "introrank"), "serve", "--port", str(port), "--workers", "1"], env, log))
        wait_until(f"http://127.0.0.1:{port}/readyz", procs[-1], log, 120)  # /readyz names the base model only
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            started = time.perf_counter()
            posted = load_through_api(client, data)
            results["setup"]["load_seconds"] = time.perf_counter() - started
            send = recommendations_sender(client, owner, args.k)
            served = client.get(f"/v1/owners/{owner}/recommendations", params={"k": args.k}).json()["model_version"]
            if served == "heuristic":  # the tenant's champion loads on its first request
                raise SystemExit("the service serves the heuristic, not the trained champion")
            results["setup"]["model_version"] = served
            print(f"owner {owner}: {len(data.contacts):,} contacts ({info['copied_contacts']} copied from other "
                  f"owners), {posted:,} events loaded through the API in {results['setup']['load_seconds']:.1f} s; "
                  f"serving model {served}", flush=True)
            pid = procs[-1].pid
            results["load_average_before"] = os.getloadavg()
            results["healthz"] = sequential(lambda: client.get("/healthz").raise_for_status(), args.requests,
                                            args.warmup)
            results["model_endpoint"] = sequential(lambda: client.get("/v1/model").raise_for_status(),
                                                   args.requests, args.warmup)
            for _ in range(args.warmup):
                send()
            with ServerCpu(pid) as cpu:
                results["recommend"] = sequential(send, args.requests, 0)
            results["recommend"]["server_cpu_ms_per_request"] = cpu.per(args.requests)
            print(f"recommend: {results['recommend']}", flush=True)
            with ServerCpu(pid) as cpu:
                results["throughput"] = throughput(base, key, owner, args.k, args.threads, args.duration)
            results["throughput"]["server_cpu_ms_per_request"] = cpu.per(results["throughput"]["requests"])
            results["throughput"]["server_cpu_utilisation"] = cpu.seconds / results["throughput"]["seconds"]
            print(f"throughput: {results['throughput']}", flush=True)
            lists = args.warmup + 1 + args.requests + results["throughput"]["requests"]
            with ServerCpu(pid) as cpu:
                results["recommend_after_load"] = {"served_lists_before": lists, **sequential(send, args.requests, 0)}
            results["recommend_after_load"]["server_cpu_ms_per_request"] = cpu.per(args.requests)
            print(f"recommend after load: {results['recommend_after_load']}", flush=True)
            for name, in_order in (("ingestion_in_order", True), ("ingestion", False)):  # in-order first: later
                with ServerCpu(pid) as cpu:                                              # ones reach "now"
                    results[name] = ingestion(client, data, args.batches, args.batch_size, args.seed, in_order)
                results[name]["server_cpu_ms_per_batch"] = cpu.per(args.batches)
                print(f"{name}: {results[name]}", flush=True)
        stop(procs.pop())
        if not args.skip_cold:
            cold_env = {**env, "INTRORANK_COMPILE_MODELS": "false"} if args.no_compile else env
            results["recommend_cold"] = cold_latency(cold_env, tmp, key, owner, args)
        results["load_average_after"] = os.getloadavg()
        if args.profile:
            results["stages"] = stage_breakdown(settings, owner, tenant_id, args.k, args.profile)

        if not args.skip_mlflow:
            features, _ = feature_rows(settings, owner, tenant_id)
            mport = free_port()
            menv = {**env, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri}
            mlog = tmp / "mlflow-serve.log"
            champion = f"models:/{registered_name(TENANT)}@champion"
            procs.append(start([str(BIN / "mlflow"), "models", "serve", "-m", champion,
                                "--env-manager", "local", "-w", "1", "-p", str(mport), "--host", "127.0.0.1"],
                               menv, mlog))
            wait_until(f"http://127.0.0.1:{mport}/ping", procs[-1], mlog, 180)
            load = os.getloadavg()
            with ServerCpu(procs[-1].pid) as cpu:
                results["mlflow"] = mlflow_invocations(f"http://127.0.0.1:{mport}", features,
                                                       args.mlflow_requests, args.warmup)
            results["mlflow"]["server_cpu_ms_per_request"] = cpu.per(args.mlflow_requests + args.warmup + 1)
            results["mlflow"]["load_average"] = [load, os.getloadavg()]
            results["ratio_p50"] = results["recommend"]["p50_ms"] / results["mlflow"]["p50_ms"]
            if "recommend_cold" in results:
                results["ratio_p50_cold"] = results["recommend_cold"]["p50_ms"] / results["mlflow"]["p50_ms"]
            print(f"mlflow: {results['mlflow']}", flush=True)
            stop(procs.pop())

        print()
        print(table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        for proc in procs:
            stop(proc)
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
