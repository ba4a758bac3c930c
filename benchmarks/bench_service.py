"""Benchmark the introrank HTTP service (and MLflow's scoring server) on this machine.

Plain script, not a test:  .venv/bin/python benchmarks/bench_service.py [--json PATH]

1. Simulates a network, trains and registers a champion into a temporary MLflow
   store (``<tmp>/store/mlflow.db``) with ``run_training``.
2. Builds the serving store (``<tmp>/store/introrank.db``) holding ONE owner with exactly
   ``--contacts`` (2,000) contacts, every one of them with history: the simulated
   owner with the most contacts with events keeps those (up to ``--contacts``); the rest are
   copies of other owners' contacts with history (largest owners first, in id
   order), re-homed under the big owner with new ids ``x<owner>-<contact>`` and
   their events copied with new ids ``x<event_id>``. Everything is loaded through
   the API (``PUT`` owner and contacts, ``POST /v1/events`` in batches of 1,000),
   which keeps ``pair_aggregates`` current in the events' transaction.
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
   (computed with ``introrank.service.serving.recommend.candidate_features`` from the stored
   aggregates, i.e. exactly what the service scores), ``dataframe_split`` format.

Every subprocess is killed at the end; the temporary folder is deleted unless
``--keep`` is given. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
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

from servicekit import event_items, load_through_api  # noqa: E402

from introrank.model.constants import DIRECTIONS, EVENT_TYPES  # noqa: E402
from introrank.model.dataset import Dataset  # noqa: E402
from introrank.model.features import FEATURE_NAMES, static_features  # noqa: E402
from introrank.service.serving.profile_cache import ProfileCache  # noqa: E402
from introrank.service.serving.recommend import candidate_features, load_contacts, load_owner  # noqa: E402
from introrank.service.serving.score_cache import ScoreCache  # noqa: E402
from introrank.service.settings import Settings  # noqa: E402
from introrank.service.store.aggregates import load_impressions, load_owner_states  # noqa: E402
from introrank.service.store.engine import make_engine  # noqa: E402
from introrank.service.store.keys import create_api_key  # noqa: E402
from introrank.training.datasets import load_csv_dir  # noqa: E402
from introrank.training.pipeline import run_training  # noqa: E402
from introrank.training.simulate import simulate_network, write_network  # noqa: E402

TENANT = "bench"
BIN = Path(sys.executable).parent
DAY = 86400.0


# --- setup ------------------------------------------------------------------------------


def simulation_start(months: int) -> str:
    """Start the simulation so that it ends today: live recommendations see recent data."""
    start = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=30 * months)
    return start.strftime("%Y-%m-%d")


def big_owner_dataset(data: Dataset, n_contacts: int) -> tuple[Dataset, str, dict[str, int]]:
    """One owner with exactly ``n_contacts`` contacts, all of them with events."""
    events, contacts = data.events, data.contacts
    with_history = events[["owner_id", "contact_id"]].drop_duplicates()
    per_owner = with_history.groupby("owner_id").size().sort_values(ascending=False, kind="stable")
    owner = str(per_owner.index[0])
    keep = contacts.merge(with_history, on=["owner_id", "contact_id"])
    own = keep[keep["owner_id"] == owner].sort_values("contact_id").head(n_contacts)
    parts = [own]
    own_events = [events[(events["owner_id"] == owner) & events["contact_id"].isin(own["contact_id"])]]
    need = n_contacts - len(own)
    copied = 0
    for donor in per_owner.index[1:]:
        if need <= 0:
            break
        donor_contacts = keep[keep["owner_id"] == donor].sort_values("contact_id").head(need)
        new_ids = "x" + donor_contacts["owner_id"] + "-" + donor_contacts["contact_id"]
        mapping = dict(zip(donor_contacts["contact_id"], new_ids, strict=True))
        parts.append(donor_contacts.assign(owner_id=owner, contact_id=new_ids.to_numpy()))
        donor_events = events[(events["owner_id"] == donor) & events["contact_id"].isin(mapping)]
        own_events.append(donor_events.assign(owner_id=owner, contact_id=donor_events["contact_id"].map(mapping),
                                              event_id="x" + donor_events["event_id"]))
        need -= len(donor_contacts)
        copied += len(donor_contacts)
    if need > 0:
        raise SystemExit(f"the network has too few contacts with history for {n_contacts}; simulate more owners")
    out = Dataset(data.owners[data.owners["owner_id"] == owner].reset_index(drop=True),
                  pd.concat(parts, ignore_index=True),
                  pd.concat(own_events, ignore_index=True).sort_values("occurred_at", kind="stable"))
    ids = out.contacts["contact_id"]
    assert len(ids) == n_contacts and ids.is_unique and set(out.events["contact_id"]) == set(ids)
    info = {"original_contacts_with_history": int(len(own)), "copied_contacts": copied,
            "events": int(len(out.events))}
    return out, owner, info


def git_state() -> dict[str, object]:
    """The commit measured and how many files differ from it (others edit the tree concurrently)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "changed_files": len([line for line in git("status", "--porcelain").splitlines() if line.strip()])}


# --- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A subprocess in its own session, so the whole group can be killed."""
    handle = log.open("wb")
    return subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def wait_until(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc), all threads."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


class ServerCpu:
    """CPU the server spent during a block, per request: robust to a busy shared machine."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> ServerCpu:
        self.start = tree_cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = tree_cpu_seconds(self.pid) - self.start

    def per(self, n: int) -> float:
        return self.seconds * 1000 / max(n, 1)


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
    """Sequential recommendations from a server whose score cache is off: every request scores afresh."""
    port = free_port()
    log = tmp / "introrank-serve-cold.log"
    proc = start([str(BIN / "introrank"), "serve", "--port", str(port), "--workers", "1"],
                 {**env, "INTRORANK_SCORE_CACHE_SECONDS": "0"}, log)
    try:
        wait_until(f"http://127.0.0.1:{port}/readyz", proc, log, 120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=120) as client:
            send = recommendations_sender(client, owner, args.k)
            for _ in range(args.warmup):
                send()
            with ServerCpu(proc.pid) as cpu:
                out = sequential(send, args.requests, 0)
            out["server_cpu_ms_per_request"] = cpu.per(args.requests)
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


def stage_breakdown(settings: Settings, owner: str, tenant_id: int, k: int, n: int) -> dict[str, dict]:
    """Median wall and CPU (thread) ms of each stage of the live recommend path, called in-process.

    Mirrors ``introrank.service.serving.recommend.recommend`` stage by stage; a stage whose function
    changed shape is reported as an error rather than failing the benchmark.
    """
    from introrank.service.serving import recommend as rec
    from introrank.service.serving.model_holder import load_served_model
    from introrank.service.store.engine import write_connection

    served = load_served_model(settings)
    engine = make_engine(settings.resolved_database_url, migrate=False)
    profiles, scores = ProfileCache(), ScoreCache(max_age_seconds=3600)
    timings: dict[str, list[tuple[float, float]]] = {}
    errors: dict[str, str] = {}

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - report, keep benchmarking
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None
        timings.setdefault(name, []).append(((time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000))
        return out

    def once() -> None:
        at = time.time()
        with engine.connect() as conn:
            record = timed("recommend.load_owner_record", lambda: rec.load_owner_record(conn, tenant_id, owner))
            frame = record.frame()
            states = timed("aggregate_store.load_owner_states (miss)",
                           lambda: load_owner_states(conn, tenant_id, owner))
            contacts = timed("recommend.load_contacts (miss, no profile cache)",
                             lambda: rec.load_contacts(conn, tenant_id, owner))
            out = timed("recommend.candidate_features (miss, no profile cache)",
                        lambda: rec.candidate_features(states, frame, contacts, at, None))
            features, rows, idx = out if out is not None else (None, None, None)
            scored = timed("recommend.score_candidates (miss)",
                           lambda: rec.score_candidates(features, rows, idx, served, at))
            counters = timed("aggregate_store.load_impressions", lambda: load_impressions(conn, tenant_id, owner))
            impressions = scored.impressions_of(counters)
            timed("recommend.pick (explains every chosen row)",
                  lambda: rec.pick(rec.score_candidates(features, rows, idx, served, at), served, k,
                                   impressions=impressions))
            rec.pick(scored, served, k, impressions=impressions)  # explains the chosen rows
            timed("recommend.pick (chosen rows already explained)",
                  lambda: rec.pick(scored, served, k, impressions=impressions))
            timed("  ranker.raw_score (all rows)", lambda: served.ranker.raw_score(features))
            timed("  ranker.contributions (k rows)", lambda: served.ranker.contributions(features.iloc[:k]))
            timed("  features.static_features", lambda: static_features(
                states.pairs.iloc[idx].reset_index(drop=True), frame, contacts, None))
            ranked = rec.pick(scored, served, k, impressions=impressions)
        result = rec.RecommendationList(owner, at, served.version, "bench", ranked or [])
        with write_connection(engine) as conn:
            timed("recommend.log_served", lambda: rec.log_served(conn, tenant_id, result))
        timed("whole recommend(), score cache off",
              lambda: _whole(engine, rec, tenant_id, owner, served, k, profiles, None))
        timed("whole recommend(), score cache hit",
              lambda: _whole(engine, rec, tenant_id, owner, served, k, profiles, scores))

    for _ in range(3):
        once()
    timings.clear()
    for _ in range(n):
        once()
    engine.dispose()
    out = {name: {"wall_ms": float(np.median([w for w, _ in v])), "cpu_ms": float(np.median([c for _, c in v]))}
           for name, v in timings.items()}
    out.update({name: {"error": e} for name, e in errors.items()})
    return out


def _whole(engine, rec, tenant_id: int, owner: str, served, k: int, profiles, scores):  # noqa: ANN001, ANN202
    with engine.connect() as conn:
        return rec.recommend(conn, tenant_id, owner, served, k, cache=profiles, scores=scores)


# --- main -------------------------------------------------------------------------------


def table(results: dict) -> str:
    rec, after, tput, ing, ml = (results.get(k) for k in ("recommend", "recommend_after_load", "throughput",
                                                           "ingestion", "mlflow"))
    lines = [f"{'measurement':56s} {'value':>13s} {'server CPU':>12s}  target", "-" * 100]

    def row(name: str, value: float, unit: str, cpu: float | None = None, target: str = "") -> None:
        cpu_text = f"{cpu:8.1f} ms" if cpu is not None else ""
        lines.append(f"{name:56s} {value:>9.1f} {unit:3s} {cpu_text:>12s}  {target}")

    row("GET /healthz p50 (no auth, no database)", results["healthz"]["p50_ms"], "ms")
    row("GET /v1/model p50 (API-key lookup + JSON)", results["model_endpoint"]["p50_ms"], "ms")
    row(f"recommend k={results['args']['k']}, {rec['n']} sequential: p50", rec["p50_ms"], "ms",
        rec["server_cpu_ms_per_request"], "< 15 ms")
    row("recommend p90", rec["p90_ms"], "ms")
    row("recommend p99", rec["p99_ms"], "ms", None, "< 40 ms")
    row(f"throughput, {tput['threads']} client threads, {tput['seconds']:.0f} s", tput["req_per_s"], "r/s",
        tput["server_cpu_ms_per_request"], ">= 100 req/s")
    row("  latency under that load p50", tput["loaded_p50_ms"], "ms")
    row("  latency under that load p99", tput["loaded_p99_ms"], "ms")
    row(f"recommend after {after['served_lists_before']:,} lists logged: p50", after["p50_ms"], "ms",
        after["server_cpu_ms_per_request"])
    row("recommend after that p99", after["p99_ms"], "ms")
    cold = results.get("recommend_cold")
    if cold:
        row(f"recommend, score cache off, {cold['n']} sequential: p50", cold["p50_ms"], "ms",
            cold["server_cpu_ms_per_request"])
        row("recommend, score cache off, p99", cold["p99_ms"], "ms")
    ordered = results.get("ingestion_in_order")
    if ordered:
        row(f"ingest {ordered['batches']} x {ordered['batch_size']} events in time order", ordered["events_per_s"],
            "e/s", ordered["server_cpu_ms_per_batch"], ">= 20,000 events/s")
        row("  per-batch p50", ordered["batch_p50_ms"], "ms")
    row(f"ingest {ing['batches']} x {ing['batch_size']} events over the last 30 days (late)", ing["events_per_s"],
        "e/s", ing["server_cpu_ms_per_batch"], ">= 20,000 events/s")
    row("  per-batch p50", ing["batch_p50_ms"], "ms")
    if ml:
        row(f"mlflow /invocations, {ml['rows']} rows, {ml['n']} sequential: p50", ml["p50_ms"], "ms",
            ml["server_cpu_ms_per_request"])
        row("mlflow /invocations p99", ml["p99_ms"], "ms")
        row("ratio introrank p50 / mlflow p50", results["ratio_p50"], "x", None, "<= 1")
        if "ratio_p50_cold" in results:
            row("ratio, score cache off", results["ratio_p50_cold"], "x", None, "<= 1")
    lines.append("(server CPU: the server process tree's user+system CPU per request / per batch)")
    if results.get("stages"):
        lines += ["", f"{'in-process stage (median of --profile calls)':56s} {'wall ms':>9s} {'cpu ms':>8s}",
                  "-" * 100]
        for name, v in results["stages"].items():
            lines.append(f"{name:56s} {v['wall_ms']:9.1f} {v['cpu_ms']:8.1f}" if "error" not in v
                         else f"{name:56s} error: {v['error'][:60]}")
    lines.append("")
    lines.append(f"tree: commit {results['tree']['commit']}, {results['tree']['changed_files']} files changed or "
                 f"untracked; started {results['started_utc']}")
    lines.append("load average (1/5/15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
        *results["load_average_before"], *results["load_average_after"]))
    return "\n".join(lines)


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
        started = time.perf_counter()
        start_day = simulation_start(args.months)
        write_network(simulate_network(args.owners, args.seed, args.months, start=start_day), tmp / "network")
        network = load_csv_dir(tmp / "network")
        print(f"simulated {args.owners} owners from {start_day}: {len(network.contacts):,} contacts, "
              f"{len(network.events):,} events ({time.perf_counter() - started:.1f} s)", flush=True)
        settings = Settings(data_dir=tmp / "store")
        started = time.perf_counter()
        outcome = run_training(network, settings)
        if outcome.decision is None or not outcome.decision.promoted:
            raise SystemExit("training did not register a champion")
        print(f"trained + registered champion v{outcome.decision.version} ({outcome.result.ranker.objective}) "
              f"in {time.perf_counter() - started:.1f} s", flush=True)
        data, owner, info = big_owner_dataset(network, args.contacts)
        results["setup"] = {"owner": owner, "simulation_start": start_day, **info}

        engine = make_engine(settings.resolved_database_url)  # migrates the serving store
        key = create_api_key(engine, TENANT)
        with engine.connect() as conn:
            tenant_id = int(conn.exec_driver_sql("SELECT id FROM tenants WHERE name = ?", (TENANT,)).scalar_one())
        engine.dispose()

        port = free_port()
        env = {**os.environ, "INTRORANK_DATA_DIR": str(settings.data_dir), "PATH": f"{BIN}:{os.environ['PATH']}"}
        env.pop("INTRORANK_DATABASE_URL", None)
        env.pop("INTRORANK_MLFLOW_TRACKING_URI", None)
        log = tmp / "introrank-serve.log"
        procs.append(start([str(BIN / "introrank"), "serve", "--port", str(port), "--workers", "1"], env, log))
        ready = wait_until(f"http://127.0.0.1:{port}/readyz", procs[-1], log, 120).json()
        if ready["heuristic"] or ready["model_version"] == "heuristic":
            raise SystemExit(f"the service serves the heuristic: {ready}")
        results["setup"]["model_version"] = ready["model_version"]
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            started = time.perf_counter()
            posted = load_through_api(client, data)
            results["setup"]["load_seconds"] = time.perf_counter() - started
            print(f"owner {owner}: {len(data.contacts):,} contacts ({info['copied_contacts']} copied from other "
                  f"owners), {posted:,} events loaded through the API in {results['setup']['load_seconds']:.1f} s; "
                  f"serving model v{ready['model_version']}", flush=True)
            send = recommendations_sender(client, owner, args.k)
            recommendations_sender(client, owner, args.k, check=ready["model_version"])()
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
            results["recommend_cold"] = cold_latency(env, tmp, key, owner, args)
            print(f"recommend, score cache off: {results['recommend_cold']}", flush=True)
        results["load_average_after"] = os.getloadavg()
        if args.profile:
            results["stages"] = stage_breakdown(settings, owner, tenant_id, args.k, args.profile)

        if not args.skip_mlflow:
            features, _ = feature_rows(settings, owner, tenant_id)
            mport = free_port()
            menv = {**env, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri}
            mlog = tmp / "mlflow-serve.log"
            procs.append(start([str(BIN / "mlflow"), "models", "serve", "-m", "models:/introrank@champion",
                                "--env-manager", "local", "-w", "1", "-p", str(mport), "--host", "127.0.0.1"],
                               menv, mlog))
            wait_until(f"http://127.0.0.1:{mport}/ping", procs[-1], mlog, 180)
            with ServerCpu(procs[-1].pid) as cpu:
                results["mlflow"] = mlflow_invocations(f"http://127.0.0.1:{mport}", features,
                                                       args.mlflow_requests, args.warmup)
            results["mlflow"]["server_cpu_ms_per_request"] = cpu.per(args.mlflow_requests + args.warmup + 1)
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
