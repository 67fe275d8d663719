"""Who may call the admin routes: players never, moderators some, admins all."""

from __future__ import annotations

import httpx
import pytest

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


def _admin_calls(target: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "/api/v1/admin/users", None),
        ("GET", "/api/v1/admin/users?q=x", None),
        ("GET", f"/api/v1/admin/users/{target}", None),
        ("POST", f"/api/v1/admin/users/{target}/ban", {"reason": "spam"}),
        ("POST", f"/api/v1/admin/users/{target}/unban", {"reason": "appeal"}),
        ("PUT", f"/api/v1/admin/users/{target}/roles", {"roles": ["player", "admin"]}),
        ("GET", "/api/v1/admin/mailbox", None),
        ("GET", "/api/v1/admin/audit-logs", None),
    ]


async def test_players_get_403_on_every_admin_route(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    target = await device_login(client)
    for method, path, body in _admin_calls(target["user"]["canonical_id"]):
        response = await client.request(method, path, headers=auth(player), json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"
    me = await client.get("/api/v1/users/me", headers=auth(target))
    assert me.json()["status"] == "active"
    assert me.json()["roles"] == ["player"]


async def test_admin_routes_need_a_token(client: httpx.AsyncClient) -> None:
    target = await device_login(client)
    for method, path, body in _admin_calls(target["user"]["canonical_id"]):
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, (method, path)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "roles", {"roles": ["player", "moderator"]}),
        ("GET", "mailbox", None),
    ],
)
async def test_moderators_cannot_use_admin_only_routes(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: dict | None
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    target = await device_login(client)
    url = (
        f"/api/v1/admin/users/{target['user']['canonical_id']}/roles"
        if path == "roles"
        else "/api/v1/admin/mailbox"
    )
    response = await client.request(method, url, headers=auth(moderator), json=body)
    assert response.status_code == 403
    me = await client.get("/api/v1/users/me", headers=auth(target))
    assert me.json()["roles"] == ["player"]


async def test_moderators_search_read_and_ban_players(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    target = await device_login(client)
    target_id = target["user"]["canonical_id"]
    headers = auth(moderator)
    assert (await client.get(f"/api/v1/admin/users?q={target_id}", headers=headers)).json()[
        "items"
    ][0]["canonical_id"] == target_id
    assert (
        await client.get(f"/api/v1/admin/users/{target_id}", headers=headers)
    ).status_code == 200
    banned = await client.post(
        f"/api/v1/admin/users/{target_id}/ban", headers=headers, json={"reason": "cheating"}
    )
    assert banned.status_code == 200, banned.text
    assert (await client.get("/api/v1/admin/audit-logs", headers=headers)).status_code == 200


@pytest.mark.parametrize("role", ["moderator", "admin"])
async def test_moderators_cannot_ban_staff(
    client: httpx.AsyncClient, runtime: Runtime, role: str
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    staff = await staff_login(client, runtime, role)
    staff_id = staff["user"]["canonical_id"]
    for action, body in (("ban", {"reason": "coup"}), ("unban", {"reason": "coup"})):
        response = await client.post(
            f"/api/v1/admin/users/{staff_id}/{action}", headers=auth(moderator), json=body
        )
        assert response.status_code == 403
    assert (await client.get("/api/v1/users/me", headers=auth(staff))).status_code == 200


async def test_admins_may_ban_moderators(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    response = await client.post(
        f"/api/v1/admin/users/{moderator['user']['canonical_id']}/ban",
        headers=auth(admin),
        json={"reason": "abuse of tools"},
    )
    assert response.status_code == 200
    after = await client.get("/api/v1/admin/users", headers=auth(moderator))
    assert after.status_code == 403
    assert after.json()["code"] == "account_banned"


@pytest.mark.parametrize("role", ["moderator", "admin"])
async def test_nobody_bans_themselves(
    client: httpx.AsyncClient, runtime: Runtime, role: str
) -> None:
    staff = await staff_login(client, runtime, role)
    response = await client.post(
        f"/api/v1/admin/users/{staff['user']['canonical_id']}/ban",
        headers=auth(staff),
        json={"reason": "oops"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "cannot_sanction_self"
    assert (await client.get("/api/v1/users/me", headers=auth(staff))).status_code == 200
