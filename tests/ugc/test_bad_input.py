"""Bad input to the UGC routes gets problem+json with a stable code, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import asgi_client, running_app
from tests.support.players import auth, device_login
from tests.support.ugc import World, sha256

GOOD_FILE = {"filename": "notes.txt", "size": 10, "content_type": "text/plain", "sha256": "a" * 64}


def body(**changes: Any) -> dict[str, Any]:
    file = {**GOOD_FILE, **changes.pop("file", {})}
    return {"type": "text", "name": "A fine name", "file": file, **changes}


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        (body(file={"size": 50 * 1024 * 1024}), 413, "payload_too_large", "file.size"),
        (
            body(file={"content_type": "application/x-msdownload"}),
            422,
            "validation_error",
            "file.content_type",
        ),
        (body(type="image"), 422, "validation_error", "file.content_type"),
        (body(type="virus"), 422, "validation_error", "type"),
        (body(file={"filename": "../../etc/passwd"}), 422, "validation_error", "file.filename"),
        (body(file={"filename": "..\\boot.ini"}), 422, "validation_error", "file.filename"),
        (body(file={"filename": "a\x00.txt"}), 422, "validation_error", "file.filename"),
        (body(file={"filename": ".htaccess"}), 422, "validation_error", "file.filename"),
        (body(file={"sha256": "not-a-hash"}), 422, "validation_error", "file.sha256"),
        (body(file={"size": 0}), 422, "validation_error", "file.size"),
        (body(tags="pvp,maps"), 422, "validation_error", "tags"),
        (body(tags=["Has Spaces!"]), 422, "validation_error", "tags"),
        (body(tags=[f"t{n}" for n in range(11)]), 422, "validation_error", "tags"),
        (body(tags=[{"name": "x"}]), 422, "validation_error", "tags.0"),
        (body(visibility="friends"), 422, "validation_error", "visibility"),
        (body(name=""), 422, "validation_error", "name"),
        (body(name="line\nbreak"), 422, "validation_error", "name"),
        (body(extra="field"), 422, "validation_error", "extra"),
        (body(metadata={f"k{n}": n for n in range(40)}), 422, "validation_error", "metadata"),
    ],
)
async def test_bad_drafts_are_refused(
    local: World, payload: dict[str, Any], status: int, code: str, field: str
) -> None:
    player = await local.player()
    response = await local.client.post("/api/v1/ugc", json=payload, headers=player)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code
    assert field in [e["field"] for e in problem.get("errors", [])], problem
    mine = await local.client.get("/api/v1/ugc/mine", headers=player)
    assert mine.json()["items"] == []


async def test_offensive_names_are_rejected_by_the_text_filter(local: World) -> None:
    player = await local.player()
    response = await local.client.post(
        "/api/v1/ugc", json=body(name="what the fuck"), headers=player
    )
    assert response.status_code == 422 and response.json()["code"] == "text_rejected"
    # Descriptions refuse slurs only; swearing is theirs (names are stricter).
    slur = await local.client.post(
        "/api/v1/ugc", json=body(description="a map for n1ggers", name="ok"), headers=player
    )
    assert slur.status_code == 422 and slur.json()["errors"][0]["field"] == "description"
    swearing = await local.client.post(
        "/api/v1/ugc", json=body(description="shit map, hard as hell", name="ok"), headers=player
    )
    assert swearing.status_code == 201, swearing.text


async def test_bad_queries_and_cursors_are_refused(local: World) -> None:
    for query in ("sort=best", "type=virus", "tag=Bad%20Tag", "limit=0", "limit=101", "cursor=%%%"):
        response = await local.client.get(f"/api/v1/ugc?{query}")
        assert response.status_code == 422, query
        assert response.json()["code"] == "validation_error"
    for sort in ("newest", "top_rated", "hot"):
        garbled = await local.client.get(f"/api/v1/ugc?sort={sort}&cursor=eyJ4IjoxfQ")
        assert garbled.status_code == 422, sort


async def test_bad_ratings_reports_and_decisions_are_refused(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"rate me please")
    player = await local.player()
    for value in (0, 6, "5", 4.5, None):
        response = await local.client.put(
            f"/api/v1/ugc/{ugc_id}/rating", json={"value": value}, headers=player
        )
        assert response.status_code == 422, value
    report = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/reports", json={"reason": "boring"}, headers=player
    )
    assert report.status_code == 422
    staff = await local.moderator()
    decision = await local.client.post(
        f"/api/v1/moderation/ugc/{ugc_id}/decision", json={"action": "delete"}, headers=staff
    )
    assert decision.status_code == 422
    own = await local.client.put(f"/api/v1/ugc/{ugc_id}/rating", json={"value": 5}, headers=creator)
    assert own.status_code == 403


async def test_daily_upload_quota(ugc_settings: Any) -> None:
    async with (
        running_app(ugc_settings(ugc_uploads_per_day=2)) as (app, _runtime),
        asgi_client(app) as client,
    ):
        player = auth(await device_login(client))
        data = b"quota"
        payload = body(file={"size": len(data), "sha256": sha256(data)})
        for _ in range(2):
            assert (
                await client.post("/api/v1/ugc", json=payload, headers=player)
            ).status_code == 201
        refused = await client.post("/api/v1/ugc", json=payload, headers=player)
        assert refused.status_code == 429
        assert refused.json()["code"] == "upload_quota_exceeded"
        assert refused.headers["retry-after"]
