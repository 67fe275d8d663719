"""Remote config: versions with author, reason and diff, If-Match, schema validation, rollback,
and the player's resolved config with its ETag."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def current(client: httpx.AsyncClient, admin: dict[str, Any]) -> httpx.Response:
    response = await client.get("/api/v1/admin/config", headers=auth(admin))
    assert response.status_code == 200, response.text
    return response


async def put_config(
    client: httpx.AsyncClient, admin: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    """PUT the document over whatever is current (If-Match from a fresh GET)."""
    etag = (await current(client, admin)).headers["ETag"]
    return await client.put(
        "/api/v1/admin/config", json=body, headers={**auth(admin), "If-Match": etag}
    )


async def test_every_change_is_a_version_with_author_reason_and_diff(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    before = await current(client, admin)
    etag = before.headers["ETag"]
    assert etag == f'"{before.json()["version"]}"'
    values = {**before.json()["values"], "drop_rate": 0.25, "store_open": True}
    body = {"values": values, "reason": "autumn event"}

    missing = await client.put("/api/v1/admin/config", json=body, headers=auth(admin))
    assert missing.status_code == 428
    changed = await client.put(
        "/api/v1/admin/config", json=body, headers={**auth(admin), "If-Match": etag}
    )
    assert changed.status_code == 200, changed.text
    version = changed.json()["version"]
    assert version == before.json()["version"] + 1
    assert changed.headers["ETag"] == f'"{version}"'
    assert changed.json()["author"] == admin["user"]["canonical_id"]

    stale = await client.put(
        "/api/v1/admin/config",
        json={"values": {**values, "drop_rate": 0.5}},
        headers={**auth(admin), "If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"

    history = await client.get("/api/v1/admin/config/history?limit=1", headers=auth(admin))
    assert history.status_code == 200
    newest = history.json()["items"][0]
    assert newest["version"] == version
    assert newest["author"] == admin["user"]["canonical_id"]
    assert newest["reason"] == "autumn event"
    diff = {c["key"]: c for c in newest["diff"]}
    assert diff["drop_rate"]["new"] == 0.25
    assert diff["store_open"]["op"] in ("added", "changed")
    assert history.json()["next_cursor"] is not None or version == 1

    audit = await client.get("/api/v1/admin/audit-logs?action=config.update", headers=auth(admin))
    assert any(e["resource_id"] == str(version) for e in audit.json()["items"])


async def test_values_failing_their_schema_are_422_with_the_path(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    schemas = {
        "drop_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "tiers": {
            "type": "object",
            "properties": {"rates": {"type": "array", "items": {"type": "integer"}}},
        },
    }
    bad = await put_config(
        client,
        admin,
        {"values": {"drop_rate": 2, "tiers": {"rates": [1, "two"]}}, "schemas": schemas},
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["code"] == "validation_error"
    errors = {e["field"]: e for e in bad.json()["errors"]}
    assert errors["values.drop_rate"]["path"] == ""
    assert errors["values.tiers.rates.1"]["path"] == "/rates/1"

    override = await put_config(
        client,
        admin,
        {
            "values": {"drop_rate": 0.1, "tiers": {"rates": [1]}},
            "schemas": schemas,
            "overrides": [{"segment": {"countries": ["FR"]}, "values": {"drop_rate": -1}}],
        },
    )
    assert override.status_code == 422
    assert override.json()["errors"][0]["field"] == "overrides.0.values.drop_rate"

    not_a_schema = await put_config(
        client, admin, {"values": {}, "schemas": {"x": {"type": "no-such-type"}}}
    )
    assert not_a_schema.status_code == 422
    assert not_a_schema.json()["errors"][0]["field"] == "schemas.x"

    good = await put_config(
        client, admin, {"values": {"drop_rate": 0.1, "tiers": {"rates": [1]}}, "schemas": schemas}
    )
    assert good.status_code == 200, good.text
    kept = await put_config(client, admin, {"values": {"drop_rate": 3}})  # schemas stay
    assert kept.status_code == 422


async def test_rollback_brings_back_an_old_version_as_a_new_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    first = await put_config(client, admin, {"values": {"greeting": "hello"}, "schemas": {}})
    assert first.status_code == 200, first.text
    second = await put_config(client, admin, {"values": {"greeting": "bonjour"}})
    assert second.status_code == 200
    back = await client.post(
        "/api/v1/admin/config/rollback",
        json={"version": first.json()["version"], "reason": "wrong language"},
        headers=auth(admin),
    )
    assert back.status_code == 200, back.text
    assert back.json()["values"] == {"greeting": "hello"}
    assert back.json()["version"] == second.json()["version"] + 1
    history = await client.get("/api/v1/admin/config/history?limit=1", headers=auth(admin))
    newest = history.json()["items"][0]
    assert newest["rolled_back_to"] == first.json()["version"]
    assert newest["diff"] == [
        {"key": "greeting", "op": "changed", "old": "bonjour", "new": "hello"}
    ]
    player = await device_login(client)
    seen = await client.get("/api/v1/config", headers=auth(player))
    assert seen.json()["values"]["greeting"] == "hello"

    missing = await client.post(
        "/api/v1/admin/config/rollback", json={"version": 10**6}, headers=auth(admin)
    )
    assert missing.status_code == 404


async def test_client_config_has_an_etag_and_answers_304_until_it_changes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    assert (
        await put_config(client, admin, {"values": {"motd": "one"}, "overrides": []})
    ).is_success
    player = await device_login(client)
    first = await client.get("/api/v1/config", headers=auth(player))
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"version", "values", "flags", "experiments"}
    assert body["values"]["motd"] == "one"
    etag = first.headers["ETag"]

    again = await client.get("/api/v1/config", headers={**auth(player), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert again.content == b""

    assert (await put_config(client, admin, {"values": {"motd": "two"}})).is_success
    changed = await client.get("/api/v1/config", headers={**auth(player), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["values"]["motd"] == "two"
    assert changed.headers["ETag"] != etag
    assert (await client.get("/api/v1/config")).status_code == 401


async def test_only_admins_change_the_config(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    for who in (moderator, player):
        assert (await client.get("/api/v1/admin/config", headers=auth(who))).status_code == 403
        put = await client.put(
            "/api/v1/admin/config", json={"values": {}}, headers={**auth(who), "If-Match": '"0"'}
        )
        assert put.status_code == 403
