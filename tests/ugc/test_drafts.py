"""Drafts after their creation: a fresh upload URL for one whose first URL ran out, and the
scheduled purge of drafts never completed (with what was uploaded for them), which leaves
recent drafts and everything past its draft alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import Any

import sqlalchemy as sa

from playerplatform.jobs.runner import Outcome
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import utcnow
from playerplatform.kit.scanner import ClamdAddress, ClamdScanner
from playerplatform.runtime import Runtime
from playerplatform.ugc import repository, service
from playerplatform.ugc.models import Ugc
from tests.support.servers import free_port
from tests.support.ugc import RETRY_SECONDS, World, run_ugc_jobs, with_scanner


def _key(ugc_id: str, filename: str = "notes.txt") -> str:
    return f"ugc/text/{ugc_id}/{filename}"


async def _renew(world: World, headers: dict[str, str], ugc_id: str) -> dict[str, Any]:
    response = await world.client.post(f"/api/v1/ugc/{ugc_id}/upload-url", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_fresh_upload_url_uploads_and_completes_the_draft(world: World) -> None:
    creator = await world.player()
    data = b"uploaded through the second url"
    created = await world.draft(creator, data)
    ugc_id, first = created["ugc"]["ugc_id"], created["upload"]

    await asyncio.sleep(1.1)  # expiry times have whole seconds: the fresh one is later
    fresh = await _renew(world, creator, ugc_id)
    # The draft route's upload shape, for the same key, size and content type.
    assert set(fresh) == set(first) and fresh["method"] == "PUT"
    assert _key(ugc_id) in str(fresh["url"]) and fresh["url"] != first["url"]
    assert fresh["headers"] == first["headers"]
    assert dt.datetime.fromisoformat(str(fresh["expires_at"])) > dt.datetime.fromisoformat(
        first["expires_at"]
    )

    put = await world.put_file(fresh, data)
    assert put.status_code in (200, 204), put.text
    completed = await world.complete(creator, ugc_id)
    assert completed.status_code == 202 and completed.json()["status"] == "scanning"
    await run_ugc_jobs(world.runtime)
    assert (await world.item(creator, ugc_id))["status"] == "pending_review"


async def test_upload_url_of_another_players_draft_or_an_unknown_id_is_404(local: World) -> None:
    creator, stranger = await local.player(), await local.player()
    created = await local.draft(creator, b"mine alone")
    ugc_id = created["ugc"]["ugc_id"]
    for who, target in ((stranger, ugc_id), (creator, "u" + "0" * 24)):
        refused = await local.client.post(f"/api/v1/ugc/{target}/upload-url", headers=who)
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "not_found"
    anonymous = await local.client.post(f"/api/v1/ugc/{ugc_id}/upload-url")
    assert anonymous.status_code == 401
    # A draft its creator deleted is gone for them too.
    assert (await local.client.delete(f"/api/v1/ugc/{ugc_id}", headers=creator)).status_code == 204
    gone = await local.client.post(f"/api/v1/ugc/{ugc_id}/upload-url", headers=creator)
    assert gone.status_code == 404


async def test_upload_url_past_the_draft_is_409(local: World) -> None:
    creator = await local.player()
    item = await local.upload(creator, b"already sent", scan=False)
    for expected in ("scanning", "pending_review"):
        assert (await local.item(creator, item["ugc_id"]))["status"] == expected
        refused = await local.client.post(
            f"/api/v1/ugc/{item['ugc_id']}/upload-url", headers=creator
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "ugc_not_draft"
        await run_ugc_jobs(local.runtime)


# The purge of abandoned drafts.


async def _make_old(runtime: Runtime, ugc_id: str, *, hours: float) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            sa.update(Ugc)
            .where(Ugc.public_id == ugc_id)
            .values(created_at=utcnow() - dt.timedelta(hours=hours))
        )


async def _exists(runtime: Runtime, ugc_id: str) -> bool:
    async with runtime.db.unit_of_work(write=False) as uow:
        return await repository.get_item(uow, ugc_id) is not None


async def _enqueue_purge(runtime: Runtime) -> None:
    """The job the scheduler enqueues at a tick of `ugc_purge_drafts`."""
    entry = runtime.jobs.registry.schedules["ugc_purge_drafts"]
    tick = entry.latest_tick(utcnow())
    async with runtime.db.unit_of_work() as uow:
        key = f"{entry.name}@{tick.isoformat()}/{secrets.token_hex(4)}"  # one per test run
        assert await enqueue(uow, entry.queue, entry.payload(tick), key=key) is not None


async def test_purge_deletes_old_drafts_and_their_uploads_and_nothing_else(world: World) -> None:
    ttl = world.runtime.settings.ugc_draft_ttl_hours
    creator = await world.player()
    data = b"half a map"

    uploaded = (await world.draft(creator, data, tags=["abandoned"]))["ugc"]["ugc_id"]
    put = await world.put_file(await _renew(world, creator, uploaded), data)
    assert put.status_code in (200, 204), put.text
    await world.item(creator, uploaded)  # cached for its creator: the purge drops that too
    never_sent = (await world.draft(creator, data))["ugc"]["ugc_id"]
    recent = await world.draft(creator, data)
    recent_id = recent["ugc"]["ugc_id"]
    assert (await world.put_file(recent["upload"], data)).status_code in (200, 204)
    reviewed = (await world.upload(creator, data))["ugc_id"]  # scanned: pending_review
    scanning = (await world.upload(creator, data, scan=False))["ugc_id"]
    for ugc_id in (uploaded, never_sent, reviewed, scanning):
        await _make_old(world.runtime, ugc_id, hours=ttl + 1)
    await _make_old(world.runtime, recent_id, hours=ttl - 1)
    assert await world.runtime.objects.exists(_key(uploaded))

    # The scanner is down: the completed item stays `scanning` while the purge runs.
    down = ClamdScanner(ClamdAddress(host="127.0.0.1", port=free_port()), timeout=2)
    await _enqueue_purge(world.runtime)
    outcomes = await run_ugc_jobs(with_scanner(world.runtime, down))
    assert sorted(outcomes) == sorted([Outcome.DONE, Outcome.RETRY])

    assert not await _exists(world.runtime, uploaded)
    assert not await _exists(world.runtime, never_sent)
    assert not await world.runtime.objects.exists(_key(uploaded))
    gone = await world.client.get(f"/api/v1/ugc/{uploaded}", headers=creator)
    assert gone.status_code == 404
    mine = await world.client.get("/api/v1/ugc/mine?limit=100", headers=creator)
    listed = {i["ugc_id"]: i["status"] for i in mine.json()["items"]}
    assert listed == {recent_id: "draft", reviewed: "pending_review", scanning: "scanning"}
    assert await world.runtime.objects.exists(_key(recent_id))

    # What was left is intact: the recent draft completes, the held scan finishes.
    assert (await world.complete(creator, recent_id)).status_code == 202
    await asyncio.sleep(RETRY_SECONDS)
    await run_ugc_jobs(world.runtime)
    for ugc_id in (recent_id, scanning, reviewed):
        assert (await world.item(creator, ugc_id))["status"] == "pending_review"


async def test_purge_takes_a_bounded_batch_oldest_first(local: World) -> None:
    creator = await local.player()
    ids = [(await local.draft(creator, b"left behind"))["ugc"]["ugc_id"] for _ in range(3)]
    # Older than anything else in the database, so these are the batch.
    for n, ugc_id in enumerate(ids):
        await _make_old(local.runtime, ugc_id, hours=100_000 - n)
    async with local.runtime.db.unit_of_work() as uow:
        assert await service.purge_abandoned_drafts(uow, local.runtime, limit=2) == 2
    assert [await _exists(local.runtime, i) for i in ids] == [False, False, True]
    async with local.runtime.db.unit_of_work() as uow:
        assert await service.purge_abandoned_drafts(uow, local.runtime, limit=2) == 1
    assert not await _exists(local.runtime, ids[2])
    async with local.runtime.db.unit_of_work() as uow:
        assert await service.purge_abandoned_drafts(uow, local.runtime, limit=2) == 0


async def test_purge_is_scheduled_on_the_scan_queue(runtime: Runtime) -> None:
    entry = runtime.jobs.registry.schedules["ugc_purge_drafts"]
    assert entry.queue == "scan_content"
    assert entry.payload(utcnow()) == {"kind": "purge_drafts"}
