"""Who sees what: private and unlisted items, drafts and removed items, through every route
(no IDOR: another player's item id gets them nothing)."""

from __future__ import annotations

import httpx

from tests.support.ugc import World


async def _routes(
    client: httpx.AsyncClient, ugc_id: str, headers: dict[str, str]
) -> dict[str, int]:
    base = f"/api/v1/ugc/{ugc_id}"
    calls = {
        "get": await client.get(base, headers=headers),
        "patch": await client.patch(base, json={"name": "Mine now"}, headers=headers),
        "delete": await client.delete(base, headers=headers),
        "complete": await client.post(f"{base}/complete", headers=headers),
        "download": await client.get(f"{base}/download", headers=headers),
        "rating": await client.put(f"{base}/rating", json={"value": 5}, headers=headers),
        "report": await client.post(f"{base}/reports", json={"reason": "spam"}, headers=headers),
        "appeal": await client.post(f"{base}/appeals", json={"message": "x"}, headers=headers),
    }
    for response in calls.values():
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith(
                ("application/problem+json", "application/json")
            )
    return {name: r.status_code for name, r in calls.items()}


async def test_private_item_is_invisible_to_everyone_but_its_creator_and_moderators(
    local: World,
) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"private notes", visibility="private")
    stranger = await local.player()
    assert set((await _routes(local.client, ugc_id, stranger)).values()) == {404}
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 404
    listed = await local.client.get(f"/api/v1/ugc?creator={await local.canonical_id(creator)}")
    assert listed.json()["items"] == []
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}", headers=creator)).status_code == 200
    staff = await local.moderator()
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}", headers=staff)).status_code == 200
    # Still the creator's own: nobody else's writes touched it.
    assert (await local.item(creator, ugc_id))["name"] != "Mine now"


async def test_unlisted_item_is_reachable_by_id_but_never_listed(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"unlisted notes", visibility="unlisted")
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 200
    for sort in ("newest", "top_rated", "most_downloaded", "hot"):
        listed = await local.client.get(
            f"/api/v1/ugc?creator={await local.canonical_id(creator)}&sort={sort}"
        )
        assert listed.json()["items"] == [], sort
    stranger = await local.player()
    download = await local.client.get(f"/api/v1/ugc/{ugc_id}/download", headers=stranger)
    assert download.status_code == 302


async def test_other_players_cannot_change_a_public_item(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"public notes")
    stranger = await local.player()
    codes = await _routes(local.client, ugc_id, stranger)
    assert codes["get"] == 200 and codes["download"] == 302 and codes["rating"] == 200
    assert codes["report"] == 201
    assert codes["patch"] == codes["delete"] == codes["complete"] == codes["appeal"] == 403
    assert (await local.item(creator, ugc_id))["status"] == "published"


async def test_drafts_are_the_creators_alone(local: World) -> None:
    creator = await local.player()
    created = await local.draft(creator, b"draft only")
    ugc_id = created["ugc"]["ugc_id"]
    stranger = await local.player()
    assert set((await _routes(local.client, ugc_id, stranger)).values()) == {404}
    mine = await local.client.get("/api/v1/ugc/mine", headers=creator)
    assert [i["ugc_id"] for i in mine.json()["items"]] == [ugc_id]
    theirs = await local.client.get("/api/v1/ugc/mine", headers=stranger)
    assert theirs.json()["items"] == []


async def test_deleted_item_is_gone_for_its_creator_too(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"soon deleted")
    assert (await local.client.delete(f"/api/v1/ugc/{ugc_id}", headers=creator)).status_code == 204
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}", headers=creator)).status_code == 404
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 404
    stranger = await local.player()
    assert (
        await local.client.get(f"/api/v1/ugc/{ugc_id}/download", headers=stranger)
    ).status_code == 404


async def test_moderation_routes_need_the_moderator_role(local: World) -> None:
    player = await local.player()
    for path in (
        "/api/v1/moderation/ugc",
        "/api/v1/moderation/reports",
        "/api/v1/moderation/appeals",
    ):
        assert (await local.client.get(path, headers=player)).status_code == 403
        assert (await local.client.get(path)).status_code == 401
    decided = await local.client.post(
        "/api/v1/moderation/ugc/u0/decision", json={"action": "approve"}, headers=player
    )
    assert decided.status_code == 403


async def test_private_objects_are_never_cacheable(world: World) -> None:
    creator = await world.player()
    ugc_id = await world.published(creator, b"private download", visibility="private")
    download = await world.client.get(f"/api/v1/ugc/{ugc_id}/download", headers=creator)
    assert download.status_code == 302
    fetched = await world.get_signed(download.headers["location"])
    assert fetched.status_code == 200
    assert "public" not in fetched.headers.get("cache-control", "")
    # The caching rule is part of what is signed: asking for another is refused.
    if world.store == "local":
        forged = download.headers["location"] + "&cc=public"
        assert (await world.get_signed(forged)).status_code == 403
