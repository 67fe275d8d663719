"""A player's data export: every domain's part for that player, and nothing of others'."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import urlsplit

import httpx
import orjson

from playerplatform.runtime import Runtime
from tests.privacy.players import rich_player, setting_up, wait_for
from tests.support.players import auth


async def test_export_holds_every_domains_data_for_the_player_and_nothing_of_others(
    client: httpx.AsyncClient, runtime: Runtime, emulators: dict[str, str]
) -> None:
    admin, season_id = await setting_up(client, runtime)
    other = await rich_player(client, runtime, emulators, admin=admin, season_id=season_id)
    player = await rich_player(
        client, runtime, emulators, admin=admin, season_id=season_id, friend=other
    )

    asked = await client.post("/api/v1/users/me/export", headers=auth(player.tokens))
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["download_url"] is None
    await wait_for(client, admin, asked.json()["request_id"], {"ready"})
    mine = await client.get("/api/v1/users/me/privacy-requests", headers=auth(player.tokens))
    ready = next(r for r in mine.json() if r["request_id"] == asked.json()["request_id"])
    assert ready["status"] == "ready" and ready["download_url"]

    link = urlsplit(ready["download_url"])
    download = await client.get(f"{link.path}?{link.query}")
    assert download.status_code == 200, download.text
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    names = set(archive.namelist())
    parts = {n.removesuffix(".json") for n in names if n.endswith(".json")}
    exporters = {e.name for e in runtime.wiring.exporters}
    assert {
        "auth",
        "users",
        "audit",
        "commerce",
        "leaderboards",
        "ugc",
        "config",
        "privacy",
    } <= parts
    assert parts <= exporters | {"manifest"}
    assert any(n.startswith(f"ugc/{player.ugc_id}/") for n in names)  # the item's file

    def part(name: str) -> object:
        return orjson.loads(archive.read(f"{name}.json"))

    auth_part = part("auth")
    assert isinstance(auth_part, dict)
    providers = {(i["provider"], i["provider_id"]) for i in auth_part["identities"]}
    assert {("email", player.email), ("steam", player.steamid)} <= providers
    users_part = part("users")
    assert isinstance(users_part, dict)
    assert users_part["account"]["canonical_id"] == player.canonical_id
    assert users_part["profile"]["display_name"] == player.display_name
    assert users_part["progression"]["data"]["marker"] == player.progression_marker
    assert [f["canonical_id"] for f in users_part["friends"]] == [other.canonical_id]
    commerce = part("commerce")
    assert isinstance(commerce, dict)
    assert {e["change_type"] for e in commerce["ledger"]} == {"grant", "spend"}
    assert [b["balance"] for b in commerce["balances"] if b["sku_id"] == player.sku_id] == [17]
    scores = part("leaderboards")
    assert isinstance(scores, list) and [s["score"] for s in scores] == [player.score]
    ugc = part("ugc")
    assert isinstance(ugc, dict)
    assert [i["public_id"] for i in ugc["items"]] == [player.ugc_id]
    assert [r["ugc_id"] for r in ugc["reports"]] == [other.ugc_id]
    assert part("config") and part("privacy")
    audit = part("audit")
    assert isinstance(audit, list)
    assert any(e["action"] == "commerce.grant" or "grant" in e["action"] for e in audit)

    inbox = part("messaging")
    assert isinstance(inbox, dict) and inbox["inbox_messages"]  # the friend request at least
    # A message the player received may name who sent it (a friend request), as the player
    # saw it; nothing else in the export names another player.
    received = archive.read("messaging.json")
    assert other.display_name.encode() in received
    everything = b"".join(archive.read(n) for n in names if n != "messaging.json")
    for foreign in (
        other.email,
        other.display_name,
        other.steamid,
        other.progression_marker,
        other.ugc_id + "/",
    ):
        assert foreign.encode() not in everything, foreign
    assert str(other.score).encode() not in everything

    mail = await client.get(
        "/api/v1/admin/mailbox", params={"to": player.email}, headers=auth(admin)
    )
    subjects = [m["subject"] for m in mail.json()["items"]]
    assert "Your data export is ready" in subjects

    for_player = await client.post(
        f"/api/v1/admin/users/{player.canonical_id}/export", headers=auth(admin)
    )
    assert for_player.status_code == 202
    assert for_player.json()["requested_by"] == admin["user"]["canonical_id"]
    refused = await client.post(
        f"/api/v1/admin/users/{player.canonical_id}/export", headers=auth(other.tokens)
    )
    assert refused.status_code == 403
