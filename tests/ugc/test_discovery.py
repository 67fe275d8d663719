"""Discovery: filters, the four sorts with cursor pagination, the hot feed in the hot store,
and the metadata cache that every change invalidates."""

from __future__ import annotations

import secrets
from typing import Any

from playerplatform.kit.views import view_key
from playerplatform.ugc.access import item_owner
from playerplatform.ugc.discovery import HOT_CURRENT
from playerplatform.ugc.service import ITEM_VIEW
from tests.support.ugc import World


async def _all_pages(world: World, query: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(20):
        url = f"/api/v1/ugc?{query}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await world.client.get(url)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert len(page["items"]) <= 2
        ids += [i["ugc_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


async def test_sorts_filters_and_cursor_pagination(world: World) -> None:
    creator = await world.player()
    me = await world.canonical_id(creator)
    word = secrets.token_hex(3)
    ids = []
    for n in range(5):
        ids.append(
            await world.published(
                creator,
                f"item {n} {word}".encode(),
                name=f"Item {n}",
                description=f"about {word}" if n % 2 == 0 else "other",
                tags=["even"] if n % 2 == 0 else ["odd"],
            )
        )
    raters = [await world.player() for _ in range(3)]
    for rater, (target, value) in zip(raters, [(ids[1], 5), (ids[3], 4), (ids[1], 5)], strict=True):
        await world.client.put(f"/api/v1/ugc/{target}/rating", json={"value": value}, headers=rater)
    for rater in raters:
        await world.client.get(f"/api/v1/ugc/{ids[2]}/download", headers=rater)
    await world.client.get(f"/api/v1/ugc/{ids[4]}/download", headers=raters[0])

    assert await _all_pages(world, f"creator={me}") == list(reversed(ids))
    assert (await _all_pages(world, f"creator={me}&sort=top_rated"))[:2] == [ids[1], ids[3]]
    assert (await _all_pages(world, f"creator={me}&sort=most_downloaded"))[:2] == [ids[2], ids[4]]
    await world.runtime.hot.delete(HOT_CURRENT)  # the feed is rebuilt when its time runs out
    assert sorted(await _all_pages(world, f"creator={me}&sort=hot")) == sorted(ids)
    assert await _all_pages(world, f"creator={me}&tag=even") == [ids[4], ids[2], ids[0]]
    assert await _all_pages(world, f"q={word}") == [ids[4], ids[2], ids[0]]
    assert await _all_pages(world, "creator=p000000000000000000000000") == []
    assert set(ids) <= set(await _all_pages(world, f"type=text&creator={me}"))
    assert await _all_pages(world, f"type=video&creator={me}") == []


async def test_hot_feed_ranks_recent_downloads_and_drops_removed_items(local: World) -> None:
    creator = await local.player()
    quiet = await local.published(creator, b"quiet item")
    popular = await local.published(creator, b"popular item")
    for _ in range(3):
        await local.client.get(f"/api/v1/ugc/{popular}/download", headers=await local.player())
    await local.runtime.hot.delete(HOT_CURRENT)  # as if its time ran out

    feed = (await local.client.get("/api/v1/ugc/hot?limit=100")).json()["items"]
    order = [i["ugc_id"] for i in feed]
    assert order.index(popular) < order.index(quiet)
    generation = await local.runtime.hot.get(HOT_CURRENT)
    assert generation is not None
    stored = await local.runtime.hot.lrange(f"ugc:hot:{generation}", 0, -1)
    assert stored[: len(order)] == order[: len(stored)]
    assert len(stored) <= local.runtime.settings.ugc_hot_feed_size

    staff = await local.moderator()
    assert (await local.decide(staff, popular, "remove")).status_code == 200
    feed = (await local.client.get("/api/v1/ugc/hot?limit=100")).json()["items"]
    assert popular not in [i["ugc_id"] for i in feed]  # the list is older; the database wins


async def test_metadata_is_cached_and_every_change_invalidates_it(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"cached item", name="Old name")
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).json()["name"] == "Old name"
    cached = await local.runtime.hot.get(view_key(item_owner(ugc_id), ITEM_VIEW))
    assert cached is not None and "Old name" in cached
    ttl = await local.runtime.hot.ttl(view_key(item_owner(ugc_id), ITEM_VIEW))
    assert ttl is not None and 0 < ttl <= 300

    patched = await local.client.patch(
        f"/api/v1/ugc/{ugc_id}",
        json={"name": "New name", "tags": ["fresh"], "visibility": "unlisted"},
        headers=creator,
    )
    assert patched.status_code == 200 and patched.json()["tags"] == ["fresh"]
    seen = (await local.client.get(f"/api/v1/ugc/{ugc_id}")).json()
    assert seen["name"] == "New name" and seen["visibility"] == "unlisted"

    rater = await local.player()
    await local.client.put(f"/api/v1/ugc/{ugc_id}/rating", json={"value": 3}, headers=rater)
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).json()["rating"]["count"] == 1
    await local.client.patch(
        f"/api/v1/ugc/{ugc_id}", json={"visibility": "private"}, headers=creator
    )
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 404
