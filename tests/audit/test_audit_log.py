"""Staff actions leave audit rows, and staff can query them."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt

import httpx
from fastapi import FastAPI

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login

LOGS = "/api/v1/admin/audit-logs"
CONSOLE_IP = "203.0.113.77"
CONSOLE_AGENT = "player-platform-console/1.0"


def _console(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(CONSOLE_IP, 50000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": CONSOLE_AGENT}
    )


async def _logs(client: httpx.AsyncClient, staff: dict, **params: object) -> dict:
    response = await client.get(LOGS, headers=auth(staff), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_ban_unban_and_role_change_are_audited_with_who_where_and_what(
    client: httpx.AsyncClient, app: FastAPI, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    admin_id = admin["user"]["canonical_id"]
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    async with _console(app) as console:
        headers = auth(admin)
        until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
        ban = await console.post(
            f"/api/v1/admin/users/{player_id}/ban",
            headers=headers,
            json={"reason": "botting", "until": until},
        )
        assert ban.status_code == 200
        unban = await console.post(
            f"/api/v1/admin/users/{player_id}/unban", headers=headers, json={"reason": "appeal"}
        )
        assert unban.status_code == 200
        roles = await console.put(
            f"/api/v1/admin/users/{player_id}/roles",
            headers=headers,
            json={"roles": ["moderator"]},
        )
        assert roles.status_code == 200

    page = await _logs(client, admin, user=player_id, resource_type="user")
    entries = {e["action"]: e for e in page["items"] if e["actor_id"] == admin_id}
    assert set(entries) == {"user.ban", "user.unban", "user.roles_change"}
    for entry in entries.values():
        assert entry["actor_type"] == "user"
        assert entry["resource_type"] == "user"
        assert entry["resource_id"] == player_id
        assert entry["outcome"] == "success"
        assert entry["ip"] == CONSOLE_IP
        assert entry["user_agent"] == CONSOLE_AGENT
        assert entry["request_id"]
        assert entry["subjects"] == [player_id]

    banned = entries["user.ban"]
    assert banned["old_values"] == {"status": "active", "banned_until": None, "ban_reason": None}
    assert banned["new_values"]["status"] == "banned"
    assert banned["new_values"]["ban_reason"] == "botting"
    assert dt.datetime.fromisoformat(
        banned["new_values"]["banned_until"]
    ) == dt.datetime.fromisoformat(until)
    assert entries["user.unban"]["old_values"]["status"] == "banned"
    assert entries["user.unban"]["new_values"]["status"] == "active"
    assert entries["user.unban"]["new_values"]["reason"] == "appeal"
    assert entries["user.roles_change"]["old_values"] == {"roles": ["player"]}
    assert entries["user.roles_change"]["new_values"] == {"roles": ["player", "moderator"]}
    # Newest first.
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)


async def test_refused_admin_actions_leave_no_rows(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    await client.post(
        f"/api/v1/admin/users/{admin['user']['canonical_id']}/ban",
        headers=auth(moderator),
        json={"reason": "coup"},
    )
    page = await _logs(client, admin, actor=moderator["user"]["canonical_id"], action="user.ban")
    assert page["items"] == []


async def test_filters_by_actor_user_action_and_since(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    mod_id = moderator["user"]["canonical_id"]
    one, two = await device_login(client), await device_login(client)
    one_id, two_id = one["user"]["canonical_id"], two["user"]["canonical_id"]
    await client.post(
        f"/api/v1/admin/users/{one_id}/ban", headers=auth(moderator), json={"reason": "r"}
    )
    await asyncio.sleep(0.05)
    middle = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.05)
    await client.post(
        f"/api/v1/admin/users/{two_id}/ban", headers=auth(moderator), json={"reason": "r"}
    )
    await client.post(
        f"/api/v1/admin/users/{one_id}/unban", headers=auth(moderator), json={"reason": "r"}
    )

    by_actor = await _logs(client, admin, actor=mod_id, resource_type="user", limit=100)
    assert [(e["action"], e["resource_id"]) for e in by_actor["items"]] == [
        ("user.unban", one_id),
        ("user.ban", two_id),
        ("user.ban", one_id),
    ]
    # `user` matches accounts an entry touched (here never the actor).
    by_subject = await _logs(client, admin, user=one_id, actor=mod_id)
    assert [e["action"] for e in by_subject["items"]] == ["user.unban", "user.ban"]
    # `user` also matches rows where that account is the actor.
    as_actor = await _logs(client, admin, user=mod_id, action="user.ban")
    assert {e["resource_id"] for e in as_actor["items"]} == {one_id, two_id}
    by_action = await _logs(client, admin, actor=mod_id, action="user.unban")
    assert [e["resource_id"] for e in by_action["items"]] == [one_id]
    since = await _logs(client, admin, actor=mod_id, resource_type="user", since=middle.isoformat())
    assert [(e["action"], e["resource_id"]) for e in since["items"]] == [
        ("user.unban", one_id),
        ("user.ban", two_id),
    ]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert (await _logs(client, admin, user=two_id, since=later))["items"] == []
    other_type = await _logs(client, admin, user=two_id, resource_type="ugc")
    assert other_type["items"] == []


async def test_pages_walk_the_whole_result_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await device_login(client)
    player_id = player["user"]["canonical_id"]
    for n in range(5):
        action = "ban" if n % 2 == 0 else "unban"
        response = await client.post(
            f"/api/v1/admin/users/{player_id}/{action}",
            headers=auth(admin),
            json={"reason": f"round {n}"},
        )
        assert response.status_code == 200

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"user": player_id, "resource_type": "user", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await _logs(client, admin, **params)
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    full = await _logs(client, admin, user=player_id, resource_type="user", limit=100)
    assert seen == [e["id"] for e in full["items"]]
    assert len(seen) == 5


async def test_garbled_cursor_is_422(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await staff_login(client, runtime, "admin")
    huge = base64.urlsafe_b64encode(b'{"i": 99999999999999999999999}').decode()
    for cursor in ("%%%", "bm90IGpzb24", "eyJpIjoieCJ9", huge):
        response = await client.get(LOGS, headers=auth(admin), params={"cursor": cursor})
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
    for since in ("yesterday", "0001-01-01T00:00:00+05:00"):
        bad_since = await client.get(LOGS, headers=auth(admin), params={"since": since})
        assert bad_since.status_code == 422
        assert bad_since.json()["code"] == "validation_error"


async def test_moderators_may_read_the_log_and_players_may_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    assert (await client.get(LOGS, headers=auth(moderator))).status_code == 200
    refused = await client.get(LOGS, headers=auth(player), params={"user": "anyone"})
    assert refused.status_code == 403
