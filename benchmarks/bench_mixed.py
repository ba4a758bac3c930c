"""Mixed load on the real service: many owners, a Zipf law over them, events between requests.

Plain script, not a test:  .venv/bin/python benchmarks/bench_mixed.py [--seconds 60] [--json PATH]

Why: ``bench_service.py`` asks one owner again and again with nothing new in between, so
the score cache answers almost every request. A CRM streams events all day and each one
ends that owner's cached list; this benchmark measures what users then wait for.

1. Simulates a tenant of ``--owners`` (200) owners with the simulator's heavy-tailed contact
   counts (50-2,000 per owner), 12 months ending today, and imports it with
   ``introrank import``'s code (``import_csvs``: events, online aggregates). A champion is
   trained and registered (``run_training``) on a separate, smaller simulated network
   (``--train-owners``), as ``bench_service.py`` does.
2. Runs ``introrank serve --workers 2`` (a real subprocess, default score cache) and, for
   ``--seconds``, ``--threads`` (8) closed-loop client threads. Each iteration picks an owner by
   a Zipf law (exponent ``--zipf``, over a random order of the owners) and, with probability
   ``--events-share`` (0.5), first posts a small batch of fresh events for that owner
   (1-``--max-batch`` events, times just before now, random existing contacts), so the
   cache cannot answer the request that follows; then ``GET .../recommendations?k=10``.
3. A recommendation is a cache **hit** when the list's ``as_of`` is older than the moment the
   request was sent (a cached list reports when it was scored), else a **miss**.
4. Reports p50/p99 of hits and misses, requests per second, the events ingested under that
   load, and the server's peak RSS (``VmHWM`` of every process of the server's tree).

Every subprocess is stopped at the end; the temporary folder is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from service_world import (  # noqa: E402
    BIN,
    TENANT,
    ServerCpu,
    free_port,
    git_state,
    simulation_start,
    start,
    stop,
    wait_for_log,
    wait_until,
)

from introrank.model.constants import CONTACTS_CSV, EVENTS_CSV, OWNERS_CSV  # noqa: E402
from introrank.service.settings import Settings  # noqa: E402
from introrank.service.store.csv_import import import_csvs  # noqa: E402
from introrank.service.store.engine import make_engine  # noqa: E402
from introrank.service.store.keys import create_api_key  # noqa: E402
from introrank.training.datasets import load_csv_dir  # noqa: E402
from introrank.training.pipeline import run_training  # noqa: E402
from introrank.training.simulate import simulate_network, write_network  # noqa: E402

EVENT_TYPES = ("touch", "message", "meeting", "give", "ask")  # no intros: leave the labels alone
RUN = f"{time.time():.0f}"  # event ids differ between runs on one --store: each batch is new, never a duplicate


def percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"n": 0}
    a = np.asarray(ms)
    return {"n": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max())}


def peak_rss_mib(pid: int) -> dict[str, float]:
    """Peak resident memory (VmHWM) of a process and its descendants: the sum and the largest one."""
    peaks, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            peaks.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError, StopIteration):
            continue
    return {"processes": len(peaks), "sum_mib": sum(peaks) / 1024, "largest_mib": max(peaks, default=0) / 1024}


def build(tmp: Path, args: argparse.Namespace) -> tuple[Settings, str, dict[str, np.ndarray], dict]:
    """The tenant's store (imported) and a registered champion; returns the owners' contact ids."""
    start_day = simulation_start(args.months)
    started = time.perf_counter()
    write_network(simulate_network(args.owners, args.seed, args.months, start=start_day), tmp / "tenant")
    write_network(simulate_network(args.train_owners, args.seed + 1, args.months, start=start_day), tmp / "train")
    settings = Settings(data_dir=tmp / "store")
    outcome = run_training(load_csv_dir(tmp / "train"), settings, tenant=None)  # the base model: every tenant
    if outcome.decision is None or not outcome.decision.promoted:
        raise SystemExit("training did not register a champion")
    trained = time.perf_counter() - started
    engine = make_engine(settings.resolved_database_url)
    key = create_api_key(engine, TENANT)
    started = time.perf_counter()
    report = import_csvs(engine, TENANT, owners=tmp / "tenant" / OWNERS_CSV, contacts=tmp / "tenant" / CONTACTS_CSV,
                         events=tmp / "tenant" / EVENTS_CSV)
    imported = time.perf_counter() - started
    engine.dispose()
    contacts = pd.read_csv(tmp / "tenant" / CONTACTS_CSV, usecols=["owner_id", "contact_id"], dtype=str)
    by_owner = {o: g["contact_id"].to_numpy() for o, g in contacts.groupby("owner_id")}
    sizes = np.array([len(v) for v in by_owner.values()])
    setup = {"owners": len(by_owner), "contacts": int(sizes.sum()), "contacts_per_owner_max": int(sizes.max()),
             "contacts_per_owner_median": float(np.median(sizes)), "events": report.events.inserted,
             "simulate_and_train_seconds": trained, "import_seconds": imported}
    print(f"tenant: {setup}", flush=True)
    return settings, key, by_owner, setup


class Client(threading.Thread):
    """One closed-loop client: maybe an events batch for the chosen owner, then its recommendations."""

    def __init__(self, i: int, base: str, key: str, owners: list[str], weights: np.ndarray,
                 contacts: dict[str, np.ndarray], args: argparse.Namespace, stop_at: float) -> None:
        super().__init__(daemon=True)
        self.i, self.base, self.key, self.owners, self.weights = i, base, key, owners, weights
        self.contacts, self.args, self.stop_at = contacts, args, stop_at
        self.hit: list[float] = []
        self.miss: list[float] = []
        self.batch_ms: list[float] = []
        self.events = self.errors = 0

    def run(self) -> None:
        rng = np.random.default_rng(1000 + self.i)
        n = 0
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=60) as http:
            while time.monotonic() < self.stop_at:
                owner = self.owners[int(rng.choice(len(self.owners), p=self.weights))]
                if rng.random() < self.args.events_share:
                    n += 1
                    self.post_events(http, rng, owner, n)
                sent = time.time()
                t0 = time.perf_counter()
                response = http.get(f"/v1/owners/{owner}/recommendations", params={"k": self.args.k})
                ms = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    self.errors += 1
                    continue
                as_of = datetime.fromisoformat(response.json()["as_of"]).timestamp()
                (self.hit if as_of < sent - 0.001 else self.miss).append(ms)

    def post_events(self, http: httpx.Client, rng: np.random.Generator, owner: str, n: int) -> None:
        size = int(rng.integers(1, self.args.max_batch + 1))
        now = time.time()
        items = [{"event_id": f"mixed-{RUN}-{self.i}-{n}-{j}", "owner_id": owner,
                  "contact_id": str(rng.choice(self.contacts[owner])),
                  "occurred_at": datetime.fromtimestamp(now - float(rng.random()) * 60).astimezone().isoformat(),
                  "type": EVENT_TYPES[int(rng.integers(0, len(EVENT_TYPES)))],
                  "direction": "in" if rng.random() < 0.5 else "out"} for j in range(size)]
        t0 = time.perf_counter()
        response = http.post("/v1/events", json={"events": items})
        self.batch_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code == 200:
            self.events += response.json()["inserted"]
        else:
            self.errors += 1


def run_load(base: str, key: str, contacts: dict[str, np.ndarray], args: argparse.Namespace,
             proc: subprocess.Popen, log: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    owners = [str(o) for o in rng.permutation(sorted(contacts))]  # popularity independent of size
    weights = 1.0 / np.arange(1, len(owners) + 1) ** args.zipf
    weights /= weights.sum()
    # Warm-up: every process loads the model and its caches before the clock starts.
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
        for owner in owners[:4]:
            for _ in range(args.workers):
                http.get(f"/v1/owners/{owner}/recommendations", params={"k": args.k}).raise_for_status()
    # ... and has its model compiled (the first worker compiles, the others load it from the data folder):
    # the clock measures the steady state, not LLVM at start-up.
    compiled_after = wait_for_log(log, '"model compiled"', proc, 300, count=args.workers)
    pid = proc.pid
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    stop_at = time.monotonic() + args.seconds
    clients = [Client(i, base, key, owners, weights, contacts, args, stop_at) for i in range(args.threads)]
    started = time.perf_counter()
    with ServerCpu(pid) as cpu:  # the server tree's CPU: what the neighbours on a shared machine do not move
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=args.seconds + 120)
    elapsed = time.perf_counter() - started
    hit = [m for c in clients for m in c.hit]
    miss = [m for c in clients for m in c.miss]
    events = sum(c.events for c in clients)
    if events == 0 and any(c.batch_ms for c in clients):
        raise SystemExit("no event was inserted: every batch was a duplicate")
    return {"seconds": elapsed, "threads": args.threads, "workers": args.workers,
            "seconds_until_compiled_after_warm_up": compiled_after,
            "load_average_before": load_before, "load_average_after": Path("/proc/loadavg").read_text().split()[:3],
            "recommendations": len(hit) + len(miss), "req_per_s": (len(hit) + len(miss)) / elapsed,
            "errors": sum(c.errors for c in clients), "hit": percentiles(hit), "miss": percentiles(miss),
            "all": percentiles(hit + miss), "miss_share": len(miss) / max(len(hit) + len(miss), 1),
            "event_batches": percentiles([m for c in clients for m in c.batch_ms]),
            "server_cpu_ms_per_request": cpu.per(len(hit) + len(miss)), "server_cores_busy": cpu.seconds / elapsed,
            "events_ingested": events, "events_per_s": events / elapsed, "peak_rss": peak_rss_mib(pid)}


def table(r: dict) -> str:
    rows = [("recommendations, cache hit: p50 / p99", f"{r['hit'].get('p50_ms', 0):.1f} / "
             f"{r['hit'].get('p99_ms', 0):.1f} ms (n={r['hit']['n']})", ""),
            ("recommendations, cache miss: p50 / p99", f"{r['miss'].get('p50_ms', 0):.1f} / "
             f"{r['miss'].get('p99_ms', 0):.1f} ms (n={r['miss']['n']})", "p99 < 50 ms"),
            ("all recommendations: p50 / p99", f"{r['all']['p50_ms']:.1f} / {r['all']['p99_ms']:.1f} ms", ""),
            ("share of misses", f"{r['miss_share']:.0%}", ""),
            (f"throughput, {r['threads']} client threads, {r['seconds']:.0f} s", f"{r['req_per_s']:.1f} req/s "
             f"({r['errors']} errors)", ">= 150 req/s"),
            ("server CPU per recommendation (events included) / cores busy",
             f"{r['server_cpu_ms_per_request']:.1f} ms / {r['server_cores_busy']:.2f}", ""),
            ("events ingested under that load", f"{r['events_per_s']:.0f} events/s ({r['events_ingested']:,})", ""),
            ("events batch p50 / p99", f"{r['event_batches'].get('p50_ms', 0):.1f} / "
             f"{r['event_batches'].get('p99_ms', 0):.1f} ms (n={r['event_batches']['n']})", ""),
            (f"server peak RSS, {r['peak_rss']['processes']} processes: sum / largest",
             f"{r['peak_rss']['sum_mib']:.0f} / {r['peak_rss']['largest_mib']:.0f} MiB", ""),
            ("load average before / after", f"{' '.join(r['load_average_before'])} / "
             f"{' '.join(r['load_average_after'])}", "")]
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name:{width}s}  {value:>34s}  {target}" for name, value, target in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--train-owners", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--events-share", type=float, default=0.5)
    parser.add_argument("--max-batch", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="extra argument for `introrank serve` (repeatable), e.g. --serve-arg=--http=h11")
    parser.add_argument("--store", type=Path, help="reuse the store of an earlier --keep run (skips building)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="introrank-bench-mixed-"))
    proc: subprocess.Popen | None = None
    results: dict = {"tree": git_state(), "started_utc": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
                     "cpus": len(os.sched_getaffinity(0)), "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        if args.store:
            settings = Settings(data_dir=args.store / "store")
            saved = json.loads((args.store / "world.json").read_text())
            key, setup = saved["key"], saved["setup"]
            contacts = {o: np.array(c) for o, c in saved["contacts"].items()}
        else:
            settings, key, contacts, setup = build(tmp, args)
            (tmp / "world.json").write_text(json.dumps({"key": key, "setup": setup,
                                                        "contacts": {o: c.tolist() for o, c in contacts.items()}}))
        results["setup"] = setup
        port = free_port()
        env = {**os.environ, "INTRORANK_DATA_DIR": str(settings.data_dir), "PATH": f"{BIN}:{os.environ['PATH']}"}
        env.pop("INTRORANK_DATABASE_URL", None)
        env.pop("INTRORANK_MLFLOW_TRACKING_URI", None)
        log = tmp / "introrank-serve.log"
        proc = start([str(BIN / "introrank"), "serve", "--port", str(port), "--workers", str(args.workers),
                      *args.serve_arg], env, log)
        ready = wait_until(f"http://127.0.0.1:{port}/readyz", proc, log, 180).json()
        if ready["heuristic"] or ready["model_version"] == "heuristic":
            raise SystemExit(f"the service serves the heuristic: {ready}")
        results["load"] = run_load(f"http://127.0.0.1:{port}", key, contacts, args, proc, log)
        print()
        print(table(results["load"]))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        stop(proc)
        if args.keep and not args.store:
            print(f"kept {tmp} (rerun with --store {tmp})")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
