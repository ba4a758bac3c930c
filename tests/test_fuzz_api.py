"""Schemathesis against the live service: no operation answers 5xx, whatever it is sent.

``introrank serve`` runs as a real subprocess on a temp store (SQLite, PostgreSQL) with a trained
champion, one owner with contacts and events, and a key holding every scope. The
OpenAPI schema is read from its ``/openapi.json``; every operation gets positive
(schema-valid) and negative (schema-breaking) cases, half of those with an owner in
the path addressing the stored owner, so the ranking code runs on real data as well
as the 404 path. Each response must not be a 5xx and must match its documented
schema. Failures are collected rather than raised (no shrinking), so one run names
every failing operation; generation is derandomized, so a run is reproducible.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance
from servicekit import ServedProcess

from introrank.service.store.keys import create_api_key

EXAMPLES = 60  # per operation, mode and path choice: about 2,400 requests per backend
MIN_CASES = 2000  # what a run must have sent, or it tested nothing much
OWNER, CONTACTS = "o1", [f"c{i:02d}" for i in range(12)]
KEY_HEADERS = {"authorization", "x-api-key"}


@dataclass
class FuzzLog:
    cases: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # first failure per (operation, kind)
    unsatisfiable: list[str] = field(default_factory=list)

    def failure(self, label: str, kind: str, case: object, response: requests.Response, error: object) -> None:
        self.failures.setdefault(f"{label}: {kind}", f"{response.status_code} {response.text[:300]!r}\n"
                                 f"    {case.as_curl_command()[:1500]}\n    {str(error)[:500]}")


def _seed(base: str, key: str) -> None:
    """The owner the path-fixed cases address: contacts, and events of each type over the last year."""
    now = time.time()
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        client.put(f"/v1/owners/{OWNER}", json={"goal": "job_search", "career_stage": 3,
                                                "target_industries": ["software"]}).raise_for_status()
        client.put(f"/v1/owners/{OWNER}/contacts", json={"contacts": [
            {"contact_id": c, "company": f"co{i % 4}", "industry": "software", "career_stage": 1 + i % 7,
             "mutual_connections": i} for i, c in enumerate(CONTACTS)]}).raise_for_status()
        kinds = ["message", "meeting", "ask", "give", "intro", "touch", "referral"]
        events = [{"event_id": f"e{i}", "owner_id": OWNER, "contact_id": CONTACTS[i % len(CONTACTS)],
                   "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - (i * 7919 % 360) * 86400)),
                   "type": kinds[i % len(kinds)], "direction": "in" if i % 3 else "out",
                   "useful": bool(i % 2) if kinds[i % len(kinds)] == "intro" else None} for i in range(240)]
        client.post("/v1/events", json={"events": events}).raise_for_status()
        client.get(f"/v1/owners/{OWNER}/recommendations").raise_for_status()


def _fuzz(operation, base: str, key: str, mode: GenerationMode, path: dict | None, examples: int,
          log: FuzzLog) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    session = requests.Session()
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path)

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(case=strategy)
    def run(case) -> None:  # noqa: ANN001
        response = case.call(base_url=base, session=session, headers={"X-API-Key": key}, timeout=60)
        log.cases[label] += 1
        log.statuses[f"{response.status_code // 100}xx"] += 1
        for check in (not_a_server_error, response_schema_conformance):
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup as error:  # recorded, the run goes on
                log.failure(label, check.__name__, case, response, error)

    try:
        run()
    except Unsatisfiable:  # nothing left to break once the path is fixed (a body-less DELETE, say)
        log.unsatisfiable.append(f"{label} {mode.value}")
    finally:
        session.close()


def _without_key_headers(raw: dict) -> dict:
    """The schema without the ``authorization`` / ``x-api-key`` header parameters: every case sends the
    fixed key, so generating values for them would only cost time."""
    for operations in raw["paths"].values():
        for operation in operations.values():
            operation["parameters"] = [p for p in operation.get("parameters", [])
                                       if not (p["in"] == "header" and p["name"].lower() in KEY_HEADERS)]
    return raw


def _breakable(raw: dict, operation, fixed: set[str]) -> bool:  # noqa: ANN001
    """Whether negative cases exist: a body, or a parameter (not fixed) with a rule to break."""
    definition = raw["paths"][operation.path][operation.method.lower()]
    params = [p for p in definition.get("parameters", []) if p["name"] not in fixed]
    return "requestBody" in definition or any(set(p["schema"]) - {"type", "title", "description"} for p in params)


def _plan(raw: dict, operations: list) -> list[tuple]:
    """(operation, mode, fixed path parameters, examples) for every run of the fuzz."""
    plan = []
    for operation in operations:
        for path in ([None, {"owner_id": OWNER}] if "{owner_id}" in operation.path else [None]):
            plan.append((operation, GenerationMode.POSITIVE, path, EXAMPLES))
            if _breakable(raw, operation, set(path or ())):
                plan.append((operation, GenerationMode.NEGATIVE, path, EXAMPLES))
    return plan


@pytest.mark.slow
def test_no_operation_answers_a_server_error(engine, model_store, tmp_path: Path):
    """Once on SQLite, once on PostgreSQL (which refuses what SQLite takes: NUL characters, integers
    over 32 bits)."""
    key = create_api_key(engine, "fuzz", scopes=("read", "write", "admin"))
    env = {"INTRORANK_MLFLOW_TRACKING_URI": model_store.resolved_tracking_uri}
    log = FuzzLog()
    with ServedProcess(tmp_path, engine, env=env) as served:
        raw = httpx.get(f"{served.base}/openapi.json").raise_for_status().json()
        schema = schemathesis.openapi.from_dict(_without_key_headers(raw))
        operations = [result.ok() for result in schema.get_all_operations()]
        _seed(served.base, key)
        served_model = httpx.get(f"{served.base}/v1/model", headers={"X-API-Key": key}).json()
        assert served_model["heuristic"] is False, served_model  # the trained champion, not the fallback
        for operation, mode, path, examples in _plan(raw, operations):
            _fuzz(operation, served.base, key, mode, path, examples, log)
            if operation.method.upper() == "DELETE":
                _seed(served.base, key)  # the owner or a contact may be gone
        assert httpx.get(f"{served.base}/readyz").status_code == 200
        server_output = served.output()
    total = sum(log.cases.values())
    print(f"\nschemathesis: {total} cases over {len(log.cases)} operations; statuses {dict(log.statuses)}; "
          f"no negative case for {log.unsatisfiable}")
    assert not log.failures, "\n".join(f"{k}\n  {v}" for k, v in sorted(log.failures.items()))
    assert len(log.cases) == len(operations) >= 20, sorted(log.cases)
    assert total >= MIN_CASES, json.dumps(log.cases)
    assert "Traceback" not in server_output and "unhandled error" not in server_output, server_output[-3000:]
