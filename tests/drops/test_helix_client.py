"""The Helix client as our application: the app access token is fetched once by client
credentials, reused, and fetched again when Twitch stops accepting it; drops lists are read
across pages."""

from __future__ import annotations

import httpx
import pytest

from playerplatform.platforms import twitch
from playerplatform.platforms.twitch import TwitchApp
from tests.support.drops import DropsWorld


async def _valid_tokens(world: DropsWorld) -> int:
    async with httpx.AsyncClient(base_url=world.emulators["twitch"]) as http:
        return int((await http.get("/emulator/app-tokens")).json()["valid"])


async def test_the_app_token_is_cached_and_renewed_when_twitch_refuses_it(
    world: DropsWorld,
) -> None:
    app = TwitchApp(world.runtime.settings, world.runtime.http)
    campaign = await world.campaign()
    claim = await world.claim(campaign, "31337")
    before = await _valid_tokens(world)

    for _ in range(3):
        found = await app.claimed_drops(game_id=campaign["twitch_game_id"])
        assert [d.entitlement_id for d in found] == [claim.entitlement_id]
    assert await _valid_tokens(world) == before + 1  # one token, three calls

    async with httpx.AsyncClient(base_url=world.emulators["twitch"]) as http:
        assert (await http.delete("/emulator/app-tokens")).status_code == 204
    found = await app.claimed_drops(game_id=campaign["twitch_game_id"])  # 401, new token, retry
    assert [d.entitlement_id for d in found] == [claim.entitlement_id]
    assert await _valid_tokens(world) == 1


async def test_claimed_drops_are_read_across_pages(
    world: DropsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = await world.campaign()
    claims = {(await world.claim(campaign, "4040")).entitlement_id for _ in range(7)}
    monkeypatch.setattr(twitch, "HELIX_PAGE_SIZE", 3)  # seven entitlements: three pages
    app = TwitchApp(world.runtime.settings, world.runtime.http)
    found = await app.claimed_drops(game_id=campaign["twitch_game_id"])
    assert {d.entitlement_id for d in found} == claims
