"""A published item as strangers see it: exactly the documented fields (docs/ugc.md), its
creator as the public profile (no roles), and the moderation fields empty."""

from __future__ import annotations

from typing import Any

from tests.support.ugc import World

ITEM = {
    "ugc_id",
    "creator",
    "type",
    "name",
    "description",
    "tags",
    "metadata",
    "status",
    "visibility",
    "checksum",
    "size",
    "content_type",
    "filename",
    "downloads_count",
    "rating",
    "created_at",
    "published_at",
    "status_reason",
    "status_note",
    "scan",
}
# Filled for the creator and moderators only.
PRIVILEGED = ("status_reason", "status_note", "scan")
CREATOR = {"canonical_id", "profile", "created_at"}


def assert_public_item(item: dict[str, Any]) -> None:
    assert set(item) == ITEM, item
    assert set(item["creator"]) == CREATOR, item
    assert set(item["rating"]) == {"average", "count"}
    for field in PRIVILEGED:
        assert item[field] is None, (field, item)


async def test_strangers_see_the_public_item_shape(local: World) -> None:
    # A moderator's own item: its creator must not read as staff to anyone.
    creator = await local.moderator()
    ugc_id = await local.published(creator, b"a public guide")
    creator_id = await local.canonical_id(creator)
    stranger = await local.player()
    for headers in (stranger, {}):
        response = await local.client.get(f"/api/v1/ugc/{ugc_id}", headers=headers)
        assert response.status_code == 200, response.text
        assert_public_item(response.json())
        assert "moderator" not in response.text
        listed = await local.client.get(f"/api/v1/ugc?creator={creator_id}", headers=headers)
        (item,) = listed.json()["items"]
        assert_public_item(item)

    # The creator sees the moderation fields of their own item.
    own = await local.item(creator, ugc_id)
    assert own["scan"] is not None
