"""Feedback: sent with attachments uploaded to signed URLs and scanned like UGC (an infected
file is never served, the feedback kept); triaged by staff, searched and exported; each
player sees only their own."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest

from tests.support.ugc import EICAR, World, run_ugc_jobs, sha256

SAFETY_QUEUES = ("moderation_review",)
LOG = b"2026-12-01 12:00:00 crash in level 3\n"


def _attachment(data: bytes, filename: str = "game.log", **fields: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "size": len(data),
        "content_type": "text/plain",
        "sha256": sha256(data),
        **fields,
    }


async def _send(world: World, player: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"category": "bug", "message": "The game crashes in level 3.", **fields}
    response = await world.client.post("/api/v1/feedback", json=body, headers=player)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _with_file(world: World, player: dict[str, str], data: bytes) -> str:
    """Feedback with one attachment, uploaded, completed and scanned; returns its id."""
    sent = await _send(world, player, attachments=[_attachment(data)], build="1.2.3")
    (upload,) = sent["uploads"]
    assert upload["filename"] == "game.log"
    feedback_id = sent["feedback"]["feedback_id"]
    assert f"feedback/{feedback_id}/game.log" in upload["url"]
    put = await world.put_file(upload, data)
    assert put.status_code in (200, 204), put.text
    done = await world.client.post(f"/api/v1/feedback/{feedback_id}/complete", headers=player)
    assert done.status_code == 200, done.text
    assert done.json()["attachments"][0]["scan_state"] == "scanning"
    await run_ugc_jobs(world.runtime, queues=SAFETY_QUEUES)
    return str(feedback_id)


async def _link(world: World, staff: dict[str, str], feedback_id: str) -> Any:
    return await world.client.get(
        f"/api/v1/moderation/feedback/{feedback_id}/attachments/game.log", headers=staff
    )


async def test_a_clean_attachment_is_served_to_staff(world: World) -> None:
    player = await world.player()
    feedback_id = await _with_file(world, player, LOG)
    mine = (await world.client.get("/api/v1/feedback", headers=player)).json()["items"]
    assert mine[0]["feedback_id"] == feedback_id
    assert mine[0]["attachments"][0]["scan_state"] == "clean"
    staff = await world.moderator()
    link = await _link(world, staff, feedback_id)
    assert link.status_code == 200, link.text
    fetched = await world.get_signed(link.json()["url"])
    assert fetched.status_code == 200 and fetched.content == LOG
    # Players never get links to attachments.
    assert (await _link(world, player, feedback_id)).status_code == 403


async def test_an_infected_attachment_is_quarantined_and_never_served(world: World) -> None:
    player = await world.player()
    feedback_id = await _with_file(world, player, EICAR)
    staff = await world.moderator()
    seen = await world.client.get(f"/api/v1/moderation/feedback/{feedback_id}", headers=staff)
    assert seen.status_code == 200
    assert seen.json()["message"] == "The game crashes in level 3."  # the feedback is kept
    assert seen.json()["attachments"][0]["scan_state"] == "infected"
    link = await _link(world, staff, feedback_id)
    assert link.status_code == 409 and link.json()["code"] == "attachment_not_served"
    # Nothing is left where the upload went.
    assert not await world.runtime.objects.exists(f"feedback/{feedback_id}/game.log")


async def test_a_file_that_does_not_match_its_declaration_is_not_served(world: World) -> None:
    player = await world.player()
    other = b"x" * len(LOG)
    sent = await _send(world, player, attachments=[_attachment(LOG)])
    feedback_id = sent["feedback"]["feedback_id"]
    await world.put_file(sent["uploads"][0], other)
    await world.client.post(f"/api/v1/feedback/{feedback_id}/complete", headers=player)
    await run_ugc_jobs(world.runtime, queues=SAFETY_QUEUES)
    staff = await world.moderator()
    assert (await _link(world, staff, feedback_id)).status_code == 409


async def test_players_reach_only_their_own_feedback(world: World) -> None:
    player, other = await world.player(), await world.player()
    sent = await _send(world, player, attachments=[_attachment(LOG)])
    feedback_id = sent["feedback"]["feedback_id"]
    stolen = await world.client.post(f"/api/v1/feedback/{feedback_id}/complete", headers=other)
    assert stolen.status_code == 404
    theirs = (await world.client.get("/api/v1/feedback", headers=other)).json()["items"]
    assert feedback_id not in [f["feedback_id"] for f in theirs]
    assert (
        await world.client.get(f"/api/v1/moderation/feedback/{feedback_id}", headers=other)
    ).status_code == 403


async def test_triage_and_a_reply_the_player_sees(world: World) -> None:
    player = await world.player()
    first = (await _send(world, player))["feedback"]["feedback_id"]
    second = (await _send(world, player, category="bug", message="Crash in level 3 again"))[
        "feedback"
    ]["feedback_id"]
    staff = await world.moderator()
    triaged = await world.client.patch(
        f"/api/v1/moderation/feedback/{first}",
        json={"status": "triaged", "tags": ["crash", "level3"], "notes": "repro on PC"},
        headers=staff,
    )
    assert triaged.status_code == 200, triaged.text
    assert triaged.json()["tags"] == ["crash", "level3"]
    duplicate = await world.client.patch(
        f"/api/v1/moderation/feedback/{second}",
        json={"duplicate_of": first, "reply": "Thanks! We are on it."},
        headers=staff,
    )
    assert duplicate.status_code == 200, duplicate.text
    assert duplicate.json()["status"] == "duplicate"
    assert duplicate.json()["duplicate_of"] == first
    mine = {
        f["feedback_id"]: f
        for f in (await world.client.get("/api/v1/feedback", headers=player)).json()["items"]
    }
    assert mine[second]["reply"] == "Thanks! We are on it."
    assert mine[first]["status"] == "triaged"
    assert "notes" not in mine[first] and "tags" not in mine[first]
    found = await world.client.get(
        "/api/v1/moderation/feedback", params={"tag": "level3"}, headers=staff
    )
    assert [f["feedback_id"] for f in found.json()["items"]] == [first]
    unknown = await world.client.patch(
        f"/api/v1/moderation/feedback/{first}", json={"duplicate_of": "f0000"}, headers=staff
    )
    assert unknown.status_code == 404


async def test_export_streams_the_filtered_view(world: World) -> None:
    player = await world.player()
    marker = f"export-marker {id(world)}"
    ids = [
        (await _send(world, player, category="suggestion", message=f"{marker} {i}"))["feedback"][
            "feedback_id"
        ]
        for i in range(3)
    ]
    await _send(world, player, category="praise", message=f"{marker} praise")
    staff = await world.moderator()
    exported = await world.client.get(
        "/api/v1/moderation/feedback/export",
        params={"format": "csv", "category": "suggestion", "q": marker},
        headers=staff,
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["feedback_id"] for r in rows) == sorted(ids)
    lines = await world.client.get(
        "/api/v1/moderation/feedback/export",
        params={"format": "json", "q": marker},
        headers=staff,
    )
    parsed = [orjson.loads(line) for line in lines.content.splitlines()]
    assert len(parsed) == 4 and {p["category"] for p in parsed} == {"suggestion", "praise"}


async def test_export_neutralises_spreadsheet_formulas(world: World) -> None:
    player = await world.player()
    await _send(world, player, message='=HYPERLINK("http://evil") formula-marker')
    exported = await world.client.get(
        "/api/v1/moderation/feedback/export",
        params={"q": "formula-marker"},
        headers=await world.moderator(),
    )
    (row,) = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["message"].startswith("'=")


@pytest.mark.parametrize(
    "fields",
    [
        {"category": "complaint"},
        {"message": ""},
        {"message": "x" * 4001},
        {"build": "b" * 65},
        {"context": "not an object"},
        {"attachments": [_attachment(LOG, filename="../../etc/passwd")]},
        {"attachments": [_attachment(LOG, filename="logs/game.log")]},
        {"attachments": [_attachment(LOG, filename="..\\game.log")]},
        {"attachments": [_attachment(LOG, filename=".hidden")]},
        {"attachments": [_attachment(LOG, filename="a" * 101)]},
        {"attachments": [_attachment(LOG, sha256="nothex")]},
        {"attachments": [_attachment(LOG, size=0)]},
        {"attachments": [_attachment(LOG), _attachment(LOG)]},  # the same name twice
        {"attachments": [_attachment(LOG, filename=f"f{i}.log") for i in range(6)]},
    ],
)
async def test_bad_feedback_is_422(world: World, fields: dict[str, Any]) -> None:
    body = {"category": "bug", "message": "It broke.", **fields}
    response = await world.client.post("/api/v1/feedback", json=body, headers=await world.player())
    assert response.status_code == 422, response.text


async def test_oversize_attachments_are_413(world: World) -> None:
    limit = world.runtime.settings.feedback_attachment_max_bytes
    body = {
        "category": "bug",
        "message": "Huge dump attached.",
        "attachments": [_attachment(LOG, size=limit + 1)],
    }
    response = await world.client.post("/api/v1/feedback", json=body, headers=await world.player())
    assert response.status_code == 413, response.text


async def test_feedback_is_in_the_queue(world: World) -> None:
    player = await world.player()
    feedback_id = (await _send(world, player))["feedback"]["feedback_id"]
    staff = await world.moderator()
    queue = await world.client.get(
        "/api/v1/moderation/queue", params={"type": "feedback", "limit": 100}, headers=staff
    )
    assert feedback_id in [i["subject"]["feedback_id"] for i in queue.json()["items"]]
    await world.client.patch(
        f"/api/v1/moderation/feedback/{feedback_id}", json={"status": "resolved"}, headers=staff
    )
    queue = await world.client.get(
        "/api/v1/moderation/queue", params={"type": "feedback", "limit": 100}, headers=staff
    )
    assert feedback_id not in [i["subject"]["feedback_id"] for i in queue.json()["items"]]


async def test_a_retried_send_with_a_key_records_one_feedback(world: World) -> None:
    player = await world.player()
    body = {"category": "bug", "message": "Sent twice over a flaky network."}
    headers = {**player, "Idempotency-Key": "feedback-1"}
    first = await world.client.post("/api/v1/feedback", json=body, headers=headers)
    again = await world.client.post("/api/v1/feedback", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["feedback"]["feedback_id"] == again.json()["feedback"]["feedback_id"]
    mine = (await world.client.get("/api/v1/feedback", headers=player)).json()["items"]
    assert len(mine) == 1
