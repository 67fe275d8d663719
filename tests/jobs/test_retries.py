"""A failing handler backs off with growing delays, ends dead with its last error, and an
admin retry runs it again (both delivery modes)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.jobs.retry import RetryPolicy
from playerplatform.kit.db import UnitOfWork
from playerplatform.runtime import Runtime
from tests.jobs.support import fresh_queue, job_rows, running_jobs, statuses, wait_for
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


def test_backoff_grows_with_each_attempt_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=10.0)
    for _ in range(200):
        delays = [policy.delay(attempt) for attempt in range(1, 7)]
        assert 0.5 <= delays[0] <= 1.0
        growing = delays[:4]  # ceilings 1, 2, 4, 8 s: below the cap
        assert all(later >= earlier for earlier, later in itertools.pairwise(growing))
        assert all(5.0 <= d <= 10.0 for d in delays[4:])  # capped at 10 s, still jittered


async def test_failing_job_backs_off_dies_and_runs_again_after_an_admin_retry(
    runtime: Runtime,
    make_settings: Callable[..., Any],
    mode: str,
    broker_url: str,
    client: httpx.AsyncClient,
) -> None:
    queue = fresh_queue("retry")
    starts: list[float] = []
    healthy = False
    registry = JobRegistry()

    @registry.handler(queue)
    async def flaky(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        starts.append(time.monotonic())
        if not healthy:
            raise ConnectionError(f"provider down (attempt {job.attempt})")

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        async with runtime.db.unit_of_work() as uow:
            job_id = await enqueue(uow, queue, {}, max_attempts=4)

        async def dead() -> bool:
            return await statuses(runtime.db, queue) == ["dead"]

        await wait_for(dead, timeout=20)
        [job] = await job_rows(runtime.db, queue)
        assert job.attempts == 4
        assert job.last_error == "ConnectionError: provider down (attempt 4)"
        assert len(starts) == 4
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        # Base 0.2 s with equal jitter: delays in [0.1, 0.2], [0.2, 0.4], [0.4, 0.8] s. Each
        # floor is the previous ceiling, so two neighbours can tie once the worker's pickup
        # lag is added; two steps apart they cannot.
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps
        assert gaps[0] < gaps[2], gaps

        admin = await staff_login(client, runtime, "admin")
        listed = await client.get(
            "/api/v1/admin/jobs", params={"queue": queue, "status": "dead"}, headers=auth(admin)
        )
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["items"]
        assert item["job_id"] == job_id and item["last_error"].startswith("ConnectionError")
        assert "payload" not in item

        healthy = True
        retried = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=auth(admin))
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "pending" and retried.json()["attempts"] == 0

        async def done() -> bool:
            return await statuses(runtime.db, queue) == ["done"]

        await wait_for(done)
    assert len(starts) == 5
    async with runtime.db.unit_of_work(write=False) as uow:
        audit = (
            await uow.session.execute(
                sa.select(AuditLog).where(
                    AuditLog.action == "job.retry", AuditLog.resource_id == job_id
                )
            )
        ).scalar_one()
    assert audit.actor_type == "user"
    assert audit.old_values and audit.old_values["status"] == "dead"


async def test_only_dead_jobs_can_be_retried_and_only_by_admins(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    queue = fresh_queue("guard")
    async with runtime.db.unit_of_work() as uow:
        job_id = await enqueue(uow, queue, {})
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)

    pending = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=auth(admin))
    assert pending.status_code == 409
    assert pending.json()["code"] == "job_not_retryable"
    missing = await client.post("/api/v1/admin/jobs/job_nope/retry", headers=auth(admin))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    for who in (moderator, player):
        denied = await client.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=auth(who))
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
        listing = await client.get("/api/v1/admin/jobs", headers=auth(who))
        assert listing.status_code == 403
    anonymous = await client.get("/api/v1/admin/jobs")
    assert anonymous.status_code == 401


async def test_admin_job_list_filters_and_pages(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    queue = fresh_queue("list")
    async with runtime.db.unit_of_work() as uow:
        ids = [await enqueue(uow, queue, {"n": n}) for n in range(5)]
    admin = await staff_login(client, runtime, "admin")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"queue": queue, "status": "pending", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/api/v1/admin/jobs", params=params, headers=auth(admin))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["job_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    none_done = await client.get(
        "/api/v1/admin/jobs", params={"queue": queue, "status": "done"}, headers=auth(admin)
    )
    assert none_done.json() == {"items": [], "next_cursor": None}
    bad_status = await client.get(
        "/api/v1/admin/jobs", params={"status": "sleeping"}, headers=auth(admin)
    )
    assert bad_status.status_code == 422 and bad_status.json()["code"] == "validation_error"
    bad_cursor = await client.get(
        "/api/v1/admin/jobs", params={"cursor": "not-a-cursor"}, headers=auth(admin)
    )
    assert bad_cursor.status_code == 422 and bad_cursor.json()["code"] == "validation_error"
