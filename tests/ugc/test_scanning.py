"""Scanning beyond the happy path: a scanner outage retries and publishes nothing, no scanner
holds uploads for review marked unscanned, archives are checked for bombs and unsafe paths,
and the publication policy for trusted creators."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import zipfile

import orjson

from playerplatform.jobs.runner import Outcome
from playerplatform.kit.scanner import ClamdAddress, ClamdScanner, NoScanner
from playerplatform.ugc.keys import scan_report_key
from tests.support.servers import free_port
from tests.support.ugc import EICAR, RETRY_SECONDS, World, run_ugc_jobs, with_scanner, zip_of


async def test_scanner_outage_retries_and_never_publishes_unscanned(world: World) -> None:
    creator = await world.player()
    item = await world.upload(creator, b"waiting for clamd", scan=False)
    down = ClamdScanner(ClamdAddress(host="127.0.0.1", port=free_port()), timeout=2)
    assert await run_ugc_jobs(with_scanner(world.runtime, down)) == [Outcome.RETRY]
    still = await world.item(creator, item["ugc_id"])
    assert still["status"] == "scanning"
    assert (await world.client.get(f"/api/v1/ugc/{item['ugc_id']}")).status_code == 404
    assert not await world.runtime.objects.exists(
        scan_report_key(item["ugc_id"], "clamav", "report.json")
    )

    await asyncio.sleep(RETRY_SECONDS)  # the retry's backoff in tests
    assert await run_ugc_jobs(world.runtime) == [Outcome.DONE, Outcome.DONE]
    assert (await world.item(creator, item["ugc_id"]))["status"] == "pending_review"


async def test_without_a_scanner_uploads_wait_for_review_marked_unscanned(local: World) -> None:
    creator = await local.player()
    item = await local.upload(creator, b"nobody scanned me", scan=False)
    await run_ugc_jobs(with_scanner(local.runtime, NoScanner()))
    held = await local.item(creator, item["ugc_id"])
    assert held["status"] == "pending_review" and held["scan"] == "unscanned"
    report = orjson.loads(
        await local.runtime.objects.get(scan_report_key(item["ugc_id"], "none", "report.json"))
    )
    assert report["verdict"] == "unscanned"
    # Not cleared by a machine: the creator cannot download it; a moderator reviewing may.
    assert (
        await local.client.get(f"/api/v1/ugc/{item['ugc_id']}/download", headers=creator)
    ).status_code == 403
    staff = await local.moderator()
    queue = await local.client.get("/api/v1/moderation/ugc?limit=100", headers=staff)
    listed = {i["ugc_id"]: i for i in queue.json()["items"]}
    assert listed[item["ugc_id"]]["scan"] == "unscanned"
    review = await local.client.get(f"/api/v1/ugc/{item['ugc_id']}/download", headers=staff)
    assert review.status_code == 302


async def test_a_clean_mod_archive_passes(world: World) -> None:
    creator = await world.player()
    data = zip_of({"mod/info.json": b'{"name": "ok"}', "mod/textures/a.png": b"\x89PNG" * 50})
    item = await world.upload(
        creator, data, type="mod", content_type="application/zip", filename="good-mod.zip"
    )
    assert item["status"] == "pending_review" and item["scan"] == "clean"


async def test_unsafe_archives_are_removed(local: World) -> None:
    creator = await local.player()
    traversal = zip_of({"../../etc/evil.sh": b"echo pwned"})
    bomb = zip_of({"zeros.bin": b"\0" * (8 * 1024 * 1024)})
    stored_bomb = zip_of({"a.txt": b"x"}, compression=zipfile.ZIP_STORED)
    for data, expected in ((traversal, "escapes"), (bomb, "zip bomb"), (b"PK\x03\x04 torn", "zip")):
        item = await local.upload(
            creator, data, type="map", content_type="application/zip", filename="map.zip"
        )
        assert item["status"] == "removed", item
        assert item["status_reason"] == "unsafe_archive" and expected in item["status_note"]
        assert (
            await local.client.get(f"/api/v1/ugc/{item['ugc_id']}/download", headers=creator)
        ).status_code == 403
    fine = await local.upload(
        creator, stored_bomb, type="map", content_type="application/zip", filename="map.zip"
    )
    assert fine["status"] == "pending_review"


async def test_too_many_entries_is_unsafe(local: World) -> None:
    creator = await local.player()
    many = zip_of({f"f{n}.txt": b"x" for n in range(30)})
    settings = local.runtime.settings.model_copy(update={"ugc_archive_max_entries": 20})
    item = await local.upload(
        creator, many, type="bundle", content_type="application/zip", filename="b.zip", scan=False
    )
    await run_ugc_jobs(dataclasses.replace(local.runtime, settings=settings))
    removed = await local.item(creator, item["ugc_id"])
    assert removed["status"] == "removed" and "entries" in removed["status_note"]


async def test_trusted_creators_are_published_after_a_clean_scan(local: World) -> None:
    creator = await local.player()
    await local.published(creator, b"first approved item")
    settings = local.runtime.settings.model_copy(update={"ugc_trusted_after_approvals": 1})
    trusting = dataclasses.replace(local.runtime, settings=settings)
    item = await local.upload(creator, b"second item", scan=False)
    await run_ugc_jobs(trusting)
    assert (await local.item(creator, item["ugc_id"]))["status"] == "published"

    newcomer = await local.player()
    other = await local.upload(newcomer, b"first item of a newcomer", scan=False)
    await run_ugc_jobs(trusting)
    assert (await local.item(newcomer, other["ugc_id"]))["status"] == "pending_review"


async def test_without_a_scanner_the_test_signature_is_never_published(local: World) -> None:
    creator = await local.player()
    staff = await local.moderator()
    cases = {
        "plain": dict(data=EICAR, type="text", content_type="text/plain", filename="e.txt"),
        "inside": dict(
            data=b"level notes\n" + EICAR + b"\nmore notes",
            type="text",
            content_type="text/plain",
            filename="notes.txt",
        ),
        "zipped": dict(
            data=zip_of({"mod/readme.txt": b"hi", "mod/payload.com": EICAR}),
            type="mod",
            content_type="application/zip",
            filename="mod.zip",
        ),
    }
    ids = {}
    for label, case in cases.items():
        data = case.pop("data")
        assert isinstance(data, bytes)
        ids[label] = (await local.upload(creator, data, scan=False, **case))["ugc_id"]
    await run_ugc_jobs(with_scanner(local.runtime, NoScanner()))
    for label, ugc_id in ids.items():
        item = await local.item(creator, ugc_id)
        assert item["status"] == "removed" and item["status_reason"] == "malware", (label, item)
        assert "EICAR" in item["status_note"]
        assert (await local.decide(staff, ugc_id, "approve")).status_code == 409
        assert (await local.decide(staff, ugc_id, "restore")).status_code == 409
        for who in (creator, staff):
            download = await local.client.get(f"/api/v1/ugc/{ugc_id}/download", headers=who)
            assert download.status_code == 403


async def test_without_a_scanner_every_item_says_so(local: World) -> None:
    creator = await local.player()
    item = await local.upload(creator, b"plain notes, nobody scanned them", scan=False)
    await run_ugc_jobs(with_scanner(local.runtime, NoScanner()))
    staff = await local.moderator()
    queue = await local.client.get("/api/v1/moderation/ugc?limit=100", headers=staff)
    listed = {i["ugc_id"]: i for i in queue.json()["items"]}
    held = listed[item["ugc_id"]]
    assert held["scan"] == "unscanned"
    assert "no virus scanner is configured" in held["status_note"]


async def test_files_on_the_deny_list_are_never_published(local: World) -> None:
    creator = await local.player()
    banned = b"a map the studio has banned"
    denying = dataclasses.replace(
        local.runtime,
        settings=local.runtime.settings.model_copy(
            update={"ugc_deny_sha256": [hashlib.sha256(banned).hexdigest().upper()]}
        ),
    )
    item = await local.upload(creator, banned, scan=False)
    zipped = await local.upload(
        creator,
        zip_of({"maps/banned.txt": banned}),
        type="map",
        content_type="application/zip",
        filename="m.zip",
        scan=False,
    )
    await run_ugc_jobs(denying)
    for ugc_id in (item["ugc_id"], zipped["ugc_id"]):
        found = await local.item(creator, ugc_id)
        assert found["status"] == "removed" and found["status_reason"] == "malware", found
        assert "deny-list" in found["status_note"]
