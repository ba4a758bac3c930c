"""The job queue under concurrent workers: every job claimed exactly once, the caps always hold.

Several claimers race on one store (on PostgreSQL, the deployment with many
workers); each claims, holds its job for a moment, and finishes it. Two checks
run throughout: an in-process ledger of the jobs currently held (a second claim
of a job, a second running job of a tenant, or more running jobs than the cap is
caught the moment it happens) and the store's own view of running jobs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import Engine, func, select

from introrank.service.store import jobs
from introrank.service.store.engine import get_or_create_tenant, write_connection
from introrank.service.store.tables import Job

TENANTS = ("acme", "beta", "gamma")
JOBS_PER_TENANT = 6
CLAIMERS = 4
MAX_RUNNING = 2
HANG_GUARD_SECONDS = 120  # not a timing assertion: only keeps a broken claim from hanging the suite


def _enqueue_all(engine: Engine) -> dict[str, str]:
    """Queue the jobs interleaved across tenants; returns job id -> tenant name."""
    queued: dict[str, str] = {}
    with write_connection(engine) as conn:
        ids = {name: get_or_create_tenant(conn, name) for name in TENANTS}
        for _ in range(JOBS_PER_TENANT):
            for name in TENANTS:
                queued[jobs.enqueue(conn, ids[name])] = name
    return queued


def _running_in_store(engine: Engine) -> tuple[int, int]:
    """(running jobs, tenants with a running job), from one statement so from one snapshot."""
    query = select(func.count(), func.count(func.distinct(Job.tenant_id))).where(Job.state == jobs.RUNNING)
    with engine.connect() as conn:
        total, tenants = conn.execute(query).one()
    return int(total), int(tenants)


def test_concurrent_workers_claim_each_job_exactly_once_within_the_caps(engine: Engine) -> None:
    queued = _enqueue_all(engine)
    ledger = threading.Lock()
    held: dict[str, str] = {}  # job id -> tenant, for the jobs claimed and not yet finished
    claims: list[tuple[str, str]] = []  # (job id, claimer), every claim ever made
    violations: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)
    deadline = time.monotonic() + HANG_GUARD_SECONDS

    def claimer(name: str) -> None:
        try:
            start.wait()
            while time.monotonic() < deadline:
                with ledger:
                    if len(claims) == len(queued) and not held:
                        return
                job = jobs.claim_next(engine, name, MAX_RUNNING)
                if job is None:
                    time.sleep(0.002)
                    continue
                with ledger:
                    claims.append((job.id, name))
                    if job.id in held:
                        violations.append(f"job {job.id} claimed while {held[job.id]} held it")
                    if job.tenant in held.values():
                        violations.append(f"tenant {job.tenant} got a second running job")
                    if len(held) >= MAX_RUNNING:
                        violations.append(f"{len(held) + 1} jobs running over a cap of {MAX_RUNNING}")
                    held[job.id] = job.tenant
                total, tenants = _running_in_store(engine)
                if total > MAX_RUNNING or total != tenants:
                    with ledger:
                        violations.append(f"store shows {total} running jobs of {tenants} tenants")
                time.sleep(0.005)  # hold it, so the others race for the rest of the queue
                with ledger:  # out of the ledger before the store: a later claim of the tenant is legal
                    held.pop(job.id, None)  # a double claim already removed it: reported above
                jobs.finish(engine, job.id, result={"claimer": name})
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    assert violations == []
    counted = Counter(job_id for job_id, _ in claims)
    assert set(counted) == set(queued) and max(counted.values()) == 1, "each job claimed exactly once"
    assert len({who for _, who in claims}) > 1, "the claimers did race (more than one of them won a job)"
    with engine.connect() as conn:
        rows = conn.execute(select(Job.id, Job.state, Job.worker, Job.result)).all()
    by_claimer = dict(claims)
    assert {r.state for r in rows} == {jobs.SUCCEEDED}
    assert all(r.worker == by_claimer[r.id] == r.result["claimer"] for r in rows)
    assert jobs.claim_next(engine, "late", MAX_RUNNING) is None


def test_a_tenant_waits_while_its_job_runs_and_the_cap_holds(engine: Engine) -> None:
    """The rules alone, one claimer at a time: one running job per tenant, ``max_running`` over all."""
    with write_connection(engine) as conn:
        a, b = get_or_create_tenant(conn, "acme"), get_or_create_tenant(conn, "beta")
        a1, a2, b1 = jobs.enqueue(conn, a), jobs.enqueue(conn, a), jobs.enqueue(conn, b)
    first = jobs.claim_next(engine, "w1", max_running=2)
    assert first is not None and first.id == a1 and first.state == jobs.RUNNING
    second = jobs.claim_next(engine, "w2", max_running=2)
    assert second is not None and second.id == b1, "acme's second job waits for its first"
    assert jobs.claim_next(engine, "w3", max_running=3) is None, "acme busy, beta busy"
    jobs.finish(engine, b1, result={})
    assert jobs.claim_next(engine, "w3", max_running=1) is None, "one running (a1) is the cap of 1"
    jobs.finish(engine, a1, result={})
    third = jobs.claim_next(engine, "w3", max_running=1)
    assert third is not None and third.id == a2
