"""Role changes: admin only, `player` always kept, demotions apply at once."""

from __future__ import annotations

import httpx
import pytest

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def _set_roles(
    client: httpx.AsyncClient, admin: dict, canonical_id: str, roles: list[str]
) -> httpx.Response:
    return await client.put(
        f"/api/v1/admin/users/{canonical_id}/roles", headers=auth(admin), json={"roles": roles}
    )


async def test_demotion_applies_to_the_existing_token_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    assert (await client.get("/api/v1/admin/users", headers=auth(moderator))).status_code == 200

    response = await _set_roles(client, admin, moderator["user"]["canonical_id"], ["player"])
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["player"]

    after = await client.get("/api/v1/admin/users", headers=auth(moderator))
    assert after.status_code == 403
    assert (await client.get("/api/v1/users/me", headers=auth(moderator))).status_code == 200


async def test_promotion_applies_from_the_next_sign_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await device_login(client)
    response = await _set_roles(client, admin, player["user"]["canonical_id"], ["moderator"])
    assert response.status_code == 200
    assert response.json()["roles"] == ["player", "moderator"]

    fresh = await device_login(client, player["device_id"])
    assert "moderator" in fresh["user"]["roles"]
    assert (await client.get("/api/v1/admin/users", headers=auth(fresh))).status_code == 200


async def test_player_role_is_always_kept(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await device_login(client)
    response = await _set_roles(client, admin, player["user"]["canonical_id"], [])
    assert response.status_code == 200
    assert response.json()["roles"] == ["player"]


async def test_admin_cannot_remove_their_own_admin_role(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    admin_id = admin["user"]["canonical_id"]
    response = await _set_roles(client, admin, admin_id, ["player", "moderator"])
    assert response.status_code == 422
    assert response.json()["code"] == "cannot_demote_self"
    assert (await client.get("/api/v1/admin/mailbox", headers=auth(admin))).status_code == 200
    kept = await _set_roles(client, admin, admin_id, ["admin"])
    assert kept.status_code == 200
    assert kept.json()["roles"] == ["player", "admin"]


@pytest.mark.parametrize(
    "body", [{"roles": ["superuser"]}, {"roles": "admin"}, {}, {"roles": ["admin"], "x": 1}]
)
async def test_bad_role_changes_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, body: dict
) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await device_login(client)
    response = await client.put(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/roles",
        headers=auth(admin),
        json=body,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    me = await client.get("/api/v1/users/me", headers=auth(player))
    assert me.json()["roles"] == ["player"]
