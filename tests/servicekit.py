"""Helpers for tests (and benchmarks) that drive the real app over HTTP: request bodies from a
``Dataset``, loading one through the API. The running app itself is ``live_app`` in conftest.py."""

from __future__ import annotations

import socket

import httpx
import pandas as pd

from introrank.model.dataset import Dataset


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
