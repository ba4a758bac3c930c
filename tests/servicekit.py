"""Helpers for tests (and benchmarks) that drive the real app over HTTP: request bodies from a
``Dataset``, loading one through the API, and ``introrank serve`` as a real subprocess
(``ServedProcess``: started on a store, stopped, or killed -9 like a crashed host). The
in-process app is ``live_app`` in conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from introrank.model.dataset import Dataset

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(engine: Engine) -> str:
    """A URL for another process that lands in this engine's database (and PostgreSQL schema)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        return url
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return f"{url.split('?')[0]}?options={quote(f'-csearch_path={schema}')}"


class ServedProcess:
    """``introrank serve`` in a subprocess (its own process group) on ``engine``'s store.

    ``env`` adds ``INTRORANK_`` settings (a tracking URI, say). The server's output goes
    to ``log`` (a pipe could fill up and stall it). ``kill()`` is kill -9 of the whole
    group (uvicorn's workers and the job worker too), as a crashed host would do it.
    """

    def __init__(self, folder: Path, engine: Engine, *, workers: int = 1, job_worker: bool = False,
                 env: dict[str, str] | None = None, timeout: float = 120) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = folder / f"serve-{port}.log"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "INTRORANK_DATABASE_URL": database_url(engine),
                    "INTRORANK_DATA_DIR": str(folder / "served"), "INTRORANK_LOG_LEVEL": "WARNING", **(env or {})}
        command = [sys.executable, "-m", "introrank.cli", "serve", "--port", str(port), "--workers", str(workers),
                   "--worker" if job_worker else "--no-worker"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, env=full_env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"introrank serve exited: {self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"introrank serve did not become ready: {self.output()[-2000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 of the server's process group; returns once the main process is gone."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), kill -9 if it takes over 30 s."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        else:  # children a clean exit left behind (none expected), same as a crash would leave none
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tenant_id(conn, name: str) -> int:  # noqa: ANN001
    return conn.execute(text("SELECT id FROM tenants WHERE name = :n"), {"n": name}).scalar_one()


def assert_live_equals_replay(engine: Engine, tenant: str, owner_id: str) -> int:
    """The stored aggregates' features equal those of an ``as_of`` replay of every stored event.

    Returns how many contacts were compared. Lost or doubled updates change counts,
    recency or windows, so any of them shows here.
    """
    from introrank.model.features import FEATURE_NAMES  # only the tests that replay pay these imports
    from introrank.service.serving.candidates import candidate_features, load_contacts, load_owner, replay_states
    from introrank.service.store.aggregates import load_owner_states

    at = time.time() + 1.0
    with engine.connect() as conn:
        tenant_id = _tenant_id(conn, tenant)
        owner, contacts = load_owner(conn, tenant_id, owner_id), load_contacts(conn, tenant_id, owner_id)
        live, live_rows, _ = candidate_features(load_owner_states(conn, tenant_id, owner_id), owner, contacts, at,
                                                None)
        replay, replay_rows, _ = candidate_features(replay_states(conn, tenant_id, owner_id, at), owner, contacts,
                                                    at, None)
    assert live_rows["contact_id"].tolist() == replay_rows["contact_id"].tolist()
    np.testing.assert_allclose(live[list(FEATURE_NAMES)].to_numpy(), replay[list(FEATURE_NAMES)].to_numpy(),
                               rtol=1e-9, atol=1e-9)
    return len(live_rows)


def _clean(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) or value == "" else value


def _list(value: object) -> list[str]:
    return [v for v in str(value or "").split(";") if v]


def owner_body(row: pd.Series) -> dict:
    return {"career_stage": int(row["career_stage"]) if _clean(row["career_stage"]) else None,
            "title": _clean(row.get("title")),
            "industry": _clean(row["industry"]), "goal": row["goal"],
            "target_industries": _list(row.get("target_industries")),
            "target_companies": _list(row.get("target_companies"))}


def contact_item(row: pd.Series) -> dict:
    mutual = _clean(row.get("mutual_connections"))
    stage = _clean(row.get("career_stage"))
    return {"contact_id": row["contact_id"], "company": _clean(row["company"]), "industry": _clean(row["industry"]),
            "title": _clean(row["title"]), "career_stage": int(stage) if stage else None,
            "mutual_connections": int(mutual) if mutual is not None else None,
            "do_not_recommend": str(row.get("do_not_recommend", "false")).lower() == "true"}


def event_items(events: pd.DataFrame) -> list[dict]:
    iso = pd.to_datetime(events["occurred_at"], unit="s", utc=True).map(lambda t: t.isoformat())
    useful = events["useful"].map({"true": True, "false": False}).astype(object)
    return [{"event_id": e, "owner_id": o, "contact_id": c, "occurred_at": t, "type": k, "direction": d,
             "useful": None if pd.isna(u) else bool(u)}
            for e, o, c, t, k, d, u in zip(events["event_id"], events["owner_id"], events["contact_id"], iso,
                                          events["type"], events["direction"], useful, strict=True)]


def load_through_api(client: httpx.Client, data: Dataset, before: float | None = None,
                     batch: int = 1000, shuffle_seed: int | None = None) -> int:
    """Upsert owners and contacts, then post events (optionally only those before a time)."""
    for _, owner in data.owners.iterrows():
        client.put(f"/v1/owners/{owner['owner_id']}", json=owner_body(owner)).raise_for_status()
    for owner_id, group in data.contacts.groupby("owner_id"):
        items = [contact_item(r) for _, r in group.iterrows()]
        client.put(f"/v1/owners/{owner_id}/contacts", json={"contacts": items}).raise_for_status()
    events = data.events if before is None else data.events[data.events["occurred_at"] < before]
    if shuffle_seed is not None:  # out of order: late events must fold in exactly
        events = events.sample(frac=1.0, random_state=shuffle_seed)
    items = event_items(events)
    for start in range(0, len(items), batch):
        client.post("/v1/events", json={"events": items[start:start + batch]}).raise_for_status()
    return len(items)


def last_cut(data: Dataset, every_days: int = 30, horizon_days: int = 90) -> float:
    from introrank.training.cuts import cut_times

    ts = data.events["occurred_at"]
    return float(cut_times(ts.min(), ts.max(), every_days, horizon_days)[-1])
