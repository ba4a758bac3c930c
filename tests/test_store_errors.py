"""A store that cannot answer now is a 503 with Retry-After; anything unexpected is a bare 500 logged by type.

Through the real app over HTTP, with the lock held by a real second connection and
the unexpected error caused by a corrupt row of the test's own database.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from introrank.service.settings import Settings
from introrank.service.store.engine import make_engine
from introrank.service.store.keys import create_api_key

SECRET = "Zelda Quixotic-Pseudonym"
EVENT = {"event_id": "e1", "owner_id": "u1", "contact_id": "c1", "occurred_at": "2026-01-01T10:00:00Z",
         "type": "message", "direction": "out"}


def _client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30)


def _seed(client: httpx.Client) -> None:
    client.put("/v1/owners/u1", json={"goal": "job_search"}).raise_for_status()
    client.put("/v1/owners/u1/contacts/c1", json={"name": SECRET, "company": "Acme"}).raise_for_status()


def _json_lines(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_sqlite_write_lock_held_elsewhere_is_503_with_retry_after(tmp_path: Path, live_app) -> None:
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}", lock_timeout=0.2)
    key = create_api_key(engine, "crm")
    base = live_app(Settings(data_dir=tmp_path / "store"), engine=engine).base
    with _client(base, key) as client:
        _seed(client)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock past the busy timeout
        try:
            started = time.monotonic()
            busy = client.post("/v1/events", json={"events": [EVENT]})
            assert time.monotonic() - started < 5
            assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
            assert busy.json() == {"detail": "the database is locked by another writer: retry shortly"}
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert client.post("/v1/events", json={"events": [EVENT]}).json() == {
            "inserted": 1, "duplicates": 0, "conflicts": []}
    engine.dispose()


@pytest.mark.postgres
def test_postgres_lock_timeout_is_503_with_retry_after(pg_engine: Engine, tmp_path: Path, live_app) -> None:
    """An owner row locked by another transaction longer than lock_timeout: the batch gives up with a 503."""
    with pg_engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    engine = make_engine(pg_engine.url.render_as_string(hide_password=False), schema=schema, migrate=False,
                         lock_timeout=0.3)
    key = create_api_key(engine, "crm")
    base = live_app(Settings(data_dir=tmp_path / "store"), engine=engine).base
    with _client(base, key) as client:
        _seed(client)
        with pg_engine.begin() as holder:
            holder.execute(text("SELECT 1 FROM owners WHERE owner_id = 'u1' FOR UPDATE"))
            busy = client.post("/v1/events", json={"events": [EVENT]})
            assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
        assert client.post("/v1/events", json={"events": [EVENT]}).json() == {
            "inserted": 1, "duplicates": 0, "conflicts": []}
    engine.dispose()


def test_unreachable_database_is_503_not_500(tmp_path: Path, live_app) -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test", migrate=False)  # nothing listens there
    base = live_app(Settings(data_dir=tmp_path / "store"), engine=engine).base
    with _client(base, "irk_whatever") as client:
        response = client.get("/v1/owners/u1/recommendations")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert client.get("/readyz").status_code == 503
    engine.dispose()


def test_unexpected_errors_are_500_with_request_id_and_logged_by_type_only(tmp_path: Path, capfd, live_app) -> None:
    """A corrupt owner row (not JSON) and a database that refuses a contact: neither message nor traceback
    (which would hold the row, the SQL and its parameters) reaches the client or the log."""
    path = tmp_path / "corrupt.db"
    engine = make_engine(f"sqlite:///{path}")
    key = create_api_key(engine, "crm")
    base = live_app(Settings(data_dir=tmp_path / "store"), engine=engine).base
    with _client(base, key) as client:
        _seed(client)
        raw = sqlite3.connect(path)
        raw.execute("UPDATE owners SET target_industries = ? WHERE owner_id = 'u1'", (f"{SECRET} {{",))
        raw.execute("CREATE TRIGGER refuse BEFORE INSERT ON contacts BEGIN SELECT RAISE(ABORT, 'refused'); END")
        raw.commit()
        raw.close()
        capfd.readouterr()
        broken = client.get("/v1/owners/u1/recommendations")
        refused = client.put("/v1/owners/u1/contacts/c2", json={"name": SECRET, "company": "Acme"})
        for response in (broken, refused):
            assert response.status_code == 500
            assert response.json() == {"detail": "internal error", "request_id": response.headers["x-request-id"]}
    stderr = capfd.readouterr().err
    assert "Zelda" not in stderr and "Traceback" not in stderr and "INSERT" not in stderr
    errors = [line for line in _json_lines(stderr) if line.get("msg") == "unhandled error"]
    assert [(e["error"], e["request_id"]) for e in errors] == [
        ("JSONDecodeError", broken.headers["x-request-id"]), ("IntegrityError", refused.headers["x-request-id"])]
    engine.dispose()


def test_sql_parameters_never_reach_an_exception_message(engine: Engine) -> None:
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text("SELECT name FROM contacts WHERE name = :name AND no_such_column = 1"), {"name": SECRET})
    assert "Zelda" not in str(caught.value) and "hidden" in str(caught.value)


def test_jobs_report_the_error_type_only_and_json_safe_results(sqlite_engine: Engine) -> None:
    """A worker that fails records the exception type only; a result with NaN is stored as JSON null."""
    from introrank.service.settings import Settings
    from introrank.service.store import jobs
    from introrank.service.store.engine import get_or_create_tenant, write_connection
    from introrank.worker import run_job

    with write_connection(sqlite_engine) as conn:
        tenant_id = get_or_create_tenant(conn, SECRET)  # no data: the retrain fails, its message naming the tenant
        failing = jobs.enqueue(conn, tenant_id)
    claimed = jobs.claim_next(sqlite_engine, "w1", max_running=1)
    assert claimed is not None and claimed.id == failing
    run_job(sqlite_engine, Settings(), claimed, "w1")
    failed = jobs.get_job(sqlite_engine, tenant_id, failing)
    assert failed.state == "failed" and failed.error.isidentifier() and SECRET not in failed.error
    with write_connection(sqlite_engine) as conn:
        done = jobs.enqueue(conn, tenant_id)
    jobs.claim_next(sqlite_engine, "w1", max_running=1)
    jobs.finish(sqlite_engine, done, result={"ndcg": float("nan"), "cuts": [1.0, math.inf], "nested": {"x": -math.inf}})
    record = jobs.get_job(sqlite_engine, tenant_id, done)
    assert (record.state, record.result) == ("succeeded", {"ndcg": None, "cuts": [1.0, None], "nested": {"x": None}})
    json.dumps(record.result, allow_nan=False)
