"""The benchmark's world: a simulated network, a registered champion, and one owner with N contacts.

``build_world`` simulates a network that ends today, trains and registers a
champion into ``<tmp>/store`` with ``run_training``, and cuts out ONE owner with
exactly ``n_contacts`` contacts, every one with history: the simulated owner
with the most contacts with events keeps those (up to ``n_contacts``); the rest
are copies of other owners' contacts with history (largest owners first, in id
order), re-homed under the big owner with new ids ``x<owner>-<contact>`` and
their events copied with new ids ``x<event_id>``. The serving store is migrated
and holds the tenant's API key. The processes and CPU accounting the runs use live here too, so
``bench_service.py`` holds only the measurements.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from introrank.model.dataset import Dataset
from introrank.service.settings import Settings
from introrank.service.store.engine import make_engine
from introrank.service.store.keys import create_api_key
from introrank.training.datasets import load_csv_dir
from introrank.training.pipeline import run_training
from introrank.training.simulate import simulate_network, write_network

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TENANT = "bench"


@dataclass
class World:
    settings: Settings
    data: Dataset  # the one owner, their contacts and events
    owner: str
    tenant_id: int
    key: str
    setup: dict  # what the results report about the setup


def build_world(tmp: Path, owners: int, seed: int, months: int, n_contacts: int) -> World:
    started = time.perf_counter()
    start_day = simulation_start(months)
    write_network(simulate_network(owners, seed, months, start=start_day), tmp / "network")
    network = load_csv_dir(tmp / "network")
    print(f"simulated {owners} owners from {start_day}: {len(network.contacts):,} contacts, "
          f"{len(network.events):,} events ({time.perf_counter() - started:.1f} s)", flush=True)
    settings = Settings(data_dir=tmp / "store")
    started = time.perf_counter()
    outcome = run_training(network, settings, tenant=TENANT)  # the API key's tenant serves it
    if outcome.decision is None or not outcome.decision.promoted:
        raise SystemExit("training did not register a champion")
    print(f"trained + registered champion v{outcome.decision.version} ({outcome.result.ranker.objective}) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    data, owner, info = big_owner_dataset(network, n_contacts)
    engine = make_engine(settings.resolved_database_url)  # migrates the serving store
    key = create_api_key(engine, TENANT)
    with engine.connect() as conn:
        tenant_id = int(conn.exec_driver_sql("SELECT id FROM tenants WHERE name = ?", (TENANT,)).scalar_one())
    engine.dispose()
    return World(settings, data, owner, tenant_id, key, {"owner": owner, "simulation_start": start_day, **info})


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


def wait_for_log(log: Path, text: str, proc: subprocess.Popen, timeout: float, count: int = 1) -> float:
    """Seconds until ``text`` shows ``count`` times in the server's log (each worker compiles its model
    in the background: one line per worker)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if log.read_text(errors="replace").count(text) >= count:
            return time.monotonic() - started
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise SystemExit(f"{text!r} not {count} times in {log} after {timeout:.0f} s")


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
