"""Bans take effect on the very next request and end with an unban or their end time."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from playerplatform.auth.deps import authenticate
from playerplatform.auth.state import user_key
from playerplatform.kit.errors import AppError
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, running_app
from tests.kit import REDIS_URL
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


def _in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def _ban(
    client: httpx.AsyncClient, staff: dict, canonical_id: str, **body: object
) -> httpx.Response:
    body.setdefault("reason", "cheating in ranked")
    return await client.post(
        f"/api/v1/admin/users/{canonical_id}/ban", headers=auth(staff), json=body
    )


async def test_banned_players_token_is_refused_on_the_next_request(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    assert (await client.get("/api/v1/users/me", headers=auth(player))).status_code == 200

    response = await _ban(client, moderator, player_id)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["status"] == "banned"
    assert detail["ban"] == {"reason": "cheating in ranked", "until": None}
    assert detail["sessions"] == []
    assert detail["sanctions"][0]["action"] == "ban"
    assert detail["sanctions"][0]["actor_id"] == moderator["user"]["canonical_id"]

    me = await client.get("/api/v1/users/me", headers=auth(player))
    assert me.status_code == 403
    assert me.json()["code"] == "account_banned"
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": player["refresh_token"]}
    )
    assert refresh.status_code in (401, 403)
    login = await client.post("/api/v1/auth/device/login", json={"device_id": player["device_id"]})
    assert login.status_code == 403
    assert login.json()["code"] == "account_banned"


async def test_a_ban_reaches_every_api_process(
    client: httpx.AsyncClient, runtime: Runtime, make_settings: Callable[..., Settings]
) -> None:
    """Two API processes on Redis (apps with runtimes of their own over the same database and
    hot store, in either test shape): the one serving the player from its copy of their state
    refuses the player as soon as the ban reaches it through Redis; nothing else tells it."""
    moderator = await staff_login(client, runtime, "moderator")
    async with (
        running_app(make_settings(redis_url=REDIS_URL)) as (here_app, _),
        running_app(make_settings(redis_url=REDIS_URL)) as (there_app, there),
        asgi_client(here_app) as here,
        asgi_client(there_app) as elsewhere,
    ):
        player = await device_login(here)
        canonical_id = player["user"]["canonical_id"]
        assert (await elsewhere.get("/api/v1/users/me", headers=auth(player))).status_code == 200
        near = there.hot.near  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            await near.wait_live()
        for _ in range(2):  # copied there, then served from the copy
            assert (
                await elsewhere.get("/api/v1/users/me", headers=auth(player))
            ).status_code == 200
        assert user_key(canonical_id) in near._entries
        assert (await _ban(here, moderator, canonical_id)).status_code == 200
        started = time.monotonic()
        while (
            me := await elsewhere.get("/api/v1/users/me", headers=auth(player))
        ).status_code == 200:
            assert time.monotonic() - started < 1.0, "the ban did not reach the other process"
            await asyncio.sleep(0.001)
        assert me.status_code == 403 and me.json()["code"] == "account_banned"


async def test_a_ban_never_reads_as_a_revoked_session(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ban revokes the player's sessions and publishes the ban: whenever the player's token
    is checked while that is written (after every hot-store write), it is let in or refused
    as banned (403), never as a token whose session ended (401), which a game would answer
    by signing in again."""
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    verdicts: list[str] = []
    for name in ("set", "set_many", "delete"):
        write = getattr(runtime.hot, name)

        async def checked(*args: Any, _write: Any = write, **kwargs: Any) -> Any:
            result = await _write(*args, **kwargs)
            try:
                await authenticate(runtime, player["access_token"])
                verdicts.append("let in")
            except AppError as error:
                verdicts.append(error.code)
            return result

        monkeypatch.setattr(runtime.hot, name, checked)
    assert (await _ban(client, moderator, player["user"]["canonical_id"])).status_code == 200
    monkeypatch.undo()
    assert "account_banned" in verdicts
    assert set(verdicts) <= {"let in", "account_banned"}, verdicts


async def test_banned_players_vanish_from_other_players_view(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    friend, player = await device_login(client), await device_login(client)
    player_id = player["user"]["canonical_id"]
    await client.put(
        f"/api/v1/users/me/friends/{friend['user']['canonical_id']}", headers=auth(player)
    )
    await client.put(f"/api/v1/users/me/friends/{player_id}", headers=auth(friend))
    await _ban(client, moderator, player_id)

    assert (await client.get(f"/api/v1/users/{player_id}")).status_code == 404
    lists = (await client.get("/api/v1/users/me/friends", headers=auth(friend))).json()
    assert lists["friends"] == []
    stranger = await device_login(client)
    response = await client.put(f"/api/v1/users/me/friends/{player_id}", headers=auth(stranger))
    assert response.status_code == 404
    # ...but a friend can still drop them.
    dropped = await client.delete(f"/api/v1/users/me/friends/{player_id}", headers=auth(friend))
    assert dropped.status_code == 204


async def test_unban_lets_the_player_sign_in_again(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    await _ban(client, moderator, player_id)

    response = await client.post(
        f"/api/v1/admin/users/{player_id}/unban",
        headers=auth(moderator),
        json={"reason": "appeal granted"},
    )
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["status"] == "active"
    assert detail["ban"] is None
    assert [s["action"] for s in detail["sanctions"]] == ["unban", "ban"]
    assert detail["sanctions"][0]["reason"] == "appeal granted"

    again = await device_login(client, player["device_id"])
    assert again["user"]["canonical_id"] == player_id
    assert (await client.get("/api/v1/users/me", headers=auth(again))).status_code == 200
    assert (await client.get(f"/api/v1/users/{player_id}")).status_code == 200


async def test_timed_ban_ends_by_itself(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    response = await _ban(client, moderator, player_id, until=_in(1.5))
    assert response.status_code == 200, response.text
    assert response.json()["ban"]["until"] is not None

    during = await client.post("/api/v1/auth/device/login", json={"device_id": player["device_id"]})
    assert during.status_code == 403
    await asyncio.sleep(2)
    after = await device_login(client, player["device_id"])
    assert (await client.get("/api/v1/users/me", headers=auth(after))).status_code == 200


async def test_banning_again_replaces_reason_and_end(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    await _ban(client, moderator, player_id, until=_in(3600))
    response = await _ban(client, moderator, player_id, reason="repeat offence")
    assert response.json()["ban"] == {"reason": "repeat offence", "until": None}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "spam", "until": "2001-01-01T00:00:00Z"},
        {"reason": "spam", "until": "2999-01-01T00:00:00"},
        {"reason": "spam", "until": "9999-12-31T23:59:59-05:00"},
        {"reason": "spam", "until": "tomorrow"},
        {"reason": "spam", "forever": True},
    ],
)
async def test_bad_ban_requests_are_refused_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, body: dict
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    response = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/ban",
        headers=auth(moderator),
        json=body,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"]
    assert (await client.get("/api/v1/users/me", headers=auth(player))).status_code == 200


async def test_ban_reason_with_a_lone_surrogate_is_422_not_500(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    response = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/ban",
        headers={**auth(moderator), "Content-Type": "application/json"},
        content=b'{"reason": "lone \\ud800 surrogate"}',
    )
    assert response.status_code == 422
    assert (await client.get("/api/v1/users/me", headers=auth(player))).status_code == 200


async def test_banning_an_unknown_account_is_404(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    response = await _ban(client, moderator, f"p{secrets.token_hex(12)}")
    assert response.status_code == 404


async def test_detail_lists_sessions_and_extension_sections(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    await device_login(client, player["device_id"])
    response = await client.get(
        f"/api/v1/admin/users/{player['user']['canonical_id']}", headers=auth(moderator)
    )
    assert response.status_code == 200
    detail = response.json()
    assert len(detail["sessions"]) == 2
    session = detail["sessions"][0]
    assert set(session) == {
        "session_id",
        "provider",
        "created_at",
        "refreshed_at",
        "expires_at",
        "ip",
        "user_agent",
    }
    assert session["provider"] == "device"
    # Staff see a device by a fingerprint of its stored hash, never the id itself.
    stored = player["user"]["identities"][0]["provider_id"]
    assert detail["identities"][0]["provider_id"] == stored[:8] + "…"
    assert detail["entitlements"] == [] and detail["balances"] == [] and detail["orders"] == []
    assert detail["ban"] is None and detail["sanctions"] == []


async def test_other_domains_fill_detail_sections(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from playerplatform.contributions import UserDetailSection

    seen: list[object] = []

    async def balances(uow: object, user_id: object) -> list[dict]:
        seen.append(user_id)
        return [{"sku_id": "gems", "balance": 3}]

    wiring = dataclasses.replace(
        runtime.wiring, user_detail_sections=(UserDetailSection("balances", balances),)
    )
    monkeypatch.setattr(runtime, "wiring", wiring)

    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    response = await client.get(
        f"/api/v1/admin/users/{player['user']['canonical_id']}", headers=auth(moderator)
    )
    assert response.json()["balances"] == [{"sku_id": "gems", "balance": 3}]
    assert response.json()["entitlements"] == []
    assert len(seen) == 1
