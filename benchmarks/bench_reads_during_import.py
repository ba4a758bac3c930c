"""Benchmark reads during a bulk import: GET latency while ``introrank import`` runs on SQLite.

Plain script, not a test:  .venv/bin/python benchmarks/bench_reads_during_import.py [--events N]

1. Generates two CRM exports with numpy (``bench_import.write_csvs``) in a temporary
   folder: a small one for tenant ``readers`` (``--reader-owners`` owners, imported
   first) and a large one (``--events``, default 1,000,000) for tenant ``bulk``.
2. Runs ``introrank serve --no-worker`` (one uvicorn worker, product defaults: 30 s
   busy timeout, 60 s score cache, heuristic model since the MLflow store is empty)
   on loopback over the SQLite file, and an API key of ``readers``.
3. Idle: ``--idle-seconds`` of sequential ``GET /v1/owners/{owner}/recommendations?k=10``
   cycling over the reader owners, to show what a read costs with nobody writing.
4. During: starts ``introrank import`` of the large export (tenant ``bulk``, so every
   owner read is outside the import) as a subprocess and, until it exits, two client
   threads hammer ``GET .../recommendations`` and ``GET .../keep-warm`` of the readers.
Prints status counts and p50 / p99 / max latency per endpoint and phase, and the
import's wall time. Everything runs on loopback; the server is stopped and the
temporary folder deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from introrank.model.constants import CONTACTS_CSV, EVENTS_CSV, OWNERS_CSV
from introrank.service.store.csv_import import import_csvs
from introrank.service.store.engine import make_engine
from introrank.service.store.keys import create_api_key

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # servicekit: free_port
sys.path.insert(0, str(ROOT / "benchmarks"))  # bench_import: the CSV generator
from bench_import import write_csvs  # noqa: E402
from servicekit import free_port  # noqa: E402


def export_paths(folder: Path) -> dict[str, Path]:
    return {"owners": folder / OWNERS_CSV, "contacts": folder / CONTACTS_CSV, "events": folder / EVENTS_CSV}


def serve(store: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "introrank.cli", "serve", "--no-worker", "--port", str(port)],
                            env=env, cwd=store, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("introrank serve exited")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("introrank serve did not become ready")


def hammer(base: str, key: str, path: str, owners: list[str], keep_going, out: list) -> None:  # noqa: ANN001
    """Sequential GETs of ``path`` (``{owner}`` filled in) while ``keep_going()``: (latency s, status) each."""
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as client:
        i = 0
        while keep_going():
            started = time.perf_counter()
            try:
                status = client.get(path.format(owner=owners[i % len(owners)]), params={"k": 10}).status_code
            except httpx.TimeoutException:
                status = 0
            out.append((time.perf_counter() - started, status))
            i += 1


def summary(label: str, samples: list[tuple[float, int]]) -> str:
    if not samples:
        return f"{label:38s} no requests"
    ms = np.array([s[0] for s in samples]) * 1000
    statuses = dict(sorted(Counter(s[1] for s in samples).items()))
    return (f"{label:38s} n={len(samples):5d}  p50 {np.percentile(ms, 50):8.1f} ms  p99 {np.percentile(ms, 99):8.1f}"
            f" ms  max {ms.max():8.1f} ms  statuses {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the bulk import")
    parser.add_argument("--owners", type=int, default=50, help="owners in the bulk import")
    parser.add_argument("--contacts-per-owner", type=int, default=400)
    parser.add_argument("--reader-owners", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="introrank-bench-") as tmp:
        readers, bulk, store = Path(tmp, "readers"), Path(tmp, "bulk"), Path(tmp, "store")
        for folder in (readers, bulk, store):
            folder.mkdir()
        write_csvs(readers, 20_000, args.reader_owners, 300)
        write_csvs(bulk, args.events, args.owners, args.contacts_per_owner)
        engine = make_engine(f"sqlite:///{store / 'introrank.db'}")
        import_csvs(engine, "readers", **export_paths(readers))
        key = create_api_key(engine, "readers")
        engine.dispose()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INTRORANK_DATA_DIR": str(store),
               "INTRORANK_LOG_LEVEL": "WARNING"}
        owners = [f"o{i}" for i in range(args.reader_owners)]
        proc, base = serve(store, env)
        try:
            idle: list = []
            until = time.monotonic() + args.idle_seconds
            hammer(base, key, "/v1/owners/{owner}/recommendations", owners, lambda: time.monotonic() < until, idle)
            paths = {**export_paths(bulk)}
            command = [sys.executable, "-m", "introrank.cli", "import", "--tenant", "bulk",
                       *(a for name, path in paths.items() for a in (f"--{name}", str(path)))]
            started = time.perf_counter()
            importer = subprocess.Popen(command, env=env, cwd=store, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
            recs: list = []
            warm: list = []
            threads = [threading.Thread(target=hammer, args=(base, key, path, owners, lambda: importer.poll() is None,
                                                             out))
                       for path, out in (("/v1/owners/{owner}/recommendations", recs),
                                         ("/v1/owners/{owner}/keep-warm", warm))]
            for thread in threads:
                thread.start()
            importer.wait()
            seconds = time.perf_counter() - started
            for thread in threads:
                thread.join()
            if importer.returncode != 0:
                raise RuntimeError(f"introrank import failed: {importer.stderr.read()[-2000:]}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(f"import of {args.events:,d} events into tenant bulk: {seconds:.1f} s wall")
        print(summary("idle: GET recommendations", idle))
        print(summary("during import: GET recommendations", recs))
        print(summary("during import: GET keep-warm", warm))


if __name__ == "__main__":
    main()
