"""Feature flags, experiments and segments: stable buckets, the kill switch, sticky variants
recorded once and exported, and the documented resolution order."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable
from typing import Any

import httpx

from playerplatform.auth.deps import Principal
from playerplatform.config.client import flag_enabled
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.config.test_config import put_config
from tests.conftest import asgi_client, running_app
from tests.support.players import auth, device_login, email_register
from tests.support.staff import staff_login


def documented_bucket(salt: str, canonical_id: str) -> float:
    """The bucket as docs/config.md defines it: nothing but the rule and the player."""
    digest = hashlib.sha256(f"{salt}:{canonical_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def window(hours: float = 1) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {
        "starts_at": (now - dt.timedelta(hours=hours)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=hours)).isoformat(),
    }


async def flags_of(client: httpx.AsyncClient, player: dict[str, Any]) -> dict[str, bool]:
    response = await client.get("/api/v1/config", headers=auth(player))
    assert response.status_code == 200, response.text
    flags: dict[str, bool] = response.json()["flags"]
    return flags


async def test_rollout_buckets_are_stable_across_processes_and_restarts(
    client: httpx.AsyncClient, runtime: Runtime, make_settings: Callable[..., Settings]
) -> None:
    admin = await staff_login(client, runtime)
    put = await client.put(
        "/api/v1/admin/flags/new_shop",
        json={"enabled": True, "rollout_percent": 50},
        headers=auth(admin),
    )
    assert put.status_code == 200, put.text
    players = [await device_login(client) for _ in range(24)]
    here = {p["user"]["canonical_id"]: (await flags_of(client, p))["new_shop"] for p in players}
    expected = {cid: documented_bucket("flag:new_shop", cid) * 100 < 50 for cid in here}
    assert here == expected
    assert 0 < sum(here.values()) < len(here)  # a rollout, not all or nothing
    # Another process, started after the change (a restart): the same buckets.
    async with running_app(make_settings()) as (other_app, _), asgi_client(other_app) as other:
        there = {p["user"]["canonical_id"]: (await flags_of(other, p))["new_shop"] for p in players}
    assert there == here
    # Asked again: nobody flips between requests.
    assert {
        p["user"]["canonical_id"]: (await flags_of(client, p))["new_shop"] for p in players
    } == here


async def test_the_kill_switch_turns_a_flag_off_for_everyone(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    player = await device_login(client)
    on = await client.put(
        "/api/v1/admin/flags/ranked_mode", json={"enabled": True}, headers=auth(admin)
    )
    assert on.status_code == 200
    assert (await flags_of(client, player))["ranked_mode"] is True
    killed = await client.put(
        "/api/v1/admin/flags/ranked_mode",
        json={"enabled": False, "rollout_percent": 100},
        headers=auth(admin),
    )
    assert killed.status_code == 200
    assert (await flags_of(client, player))["ranked_mode"] is False
    got = await client.get("/api/v1/admin/flags/ranked_mode", headers=auth(admin))
    assert (
        got.json()["enabled"] is False and got.json()["updated_by"] == admin["user"]["canonical_id"]
    )
    gone = await client.delete("/api/v1/admin/flags/ranked_mode", headers=auth(admin))
    assert gone.status_code == 204
    assert "ranked_mode" not in await flags_of(client, player)
    assert (
        await client.get("/api/v1/admin/flags/ranked_mode", headers=auth(admin))
    ).status_code == 404
    audit = await client.get("/api/v1/admin/audit-logs?resource_type=flag", headers=auth(admin))
    actions = {e["action"] for e in audit.json()["items"] if e["resource_id"] == "ranked_mode"}
    assert actions == {"flag.update", "flag.delete"}


async def test_server_code_reads_flags_through_one_function(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    await client.put(
        "/api/v1/admin/flags/staff_tools",
        json={"enabled": True, "segment": {"roles": ["admin"]}},
        headers=auth(admin),
    )
    await client.put("/api/v1/admin/flags/everyone", json={"enabled": True}, headers=auth(admin))
    player = await device_login(client)

    def principal(tokens: dict[str, Any], roles: set[str]) -> Principal:
        import uuid

        return Principal(
            kind="user",
            subject=tokens["user"]["canonical_id"],
            user_id=uuid.uuid4(),
            roles=frozenset(roles),
            claims={"providers": ["device"]},
        )

    assert await flag_enabled(runtime, "staff_tools", principal(admin, {"admin"})) is True
    assert await flag_enabled(runtime, "staff_tools", principal(player, {"player"})) is False
    assert await flag_enabled(runtime, "staff_tools") is False  # segmented: not for "everyone"
    assert await flag_enabled(runtime, "everyone") is True
    assert await flag_enabled(runtime, "no_such_flag") is False


async def test_segment_resolution_order(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Base values, then matching overrides in their listed order (later wins), then the
    player's experiment variant."""
    admin = await staff_login(client, runtime)
    changed = await put_config(
        client,
        admin,
        {
            "values": {"price": 100, "banner": "base", "color": "grey", "lives": 3},
            "schemas": {},
            "overrides": [
                {"segment": {"platforms": ["device"]}, "values": {"price": 90, "banner": "device"}},
                {"segment": {"roles": ["player"]}, "values": {"price": 80}},
                {"segment": {"countries": ["FR"]}, "values": {"banner": "france", "lives": 5}},
                {"segment": {"platforms": ["steam"]}, "values": {"color": "blue"}},
            ],
        },
    )
    assert changed.status_code == 200, changed.text
    await client.put(
        "/api/v1/admin/experiments/price_test",
        json={
            "variants": [{"name": "cheap", "weight": 1, "values": {"lives": 7}}],
            "segment": {"countries": ["FR"]},
            **window(),
        },
        headers=auth(admin),
    )
    player = await device_login(client)
    values = (await client.get("/api/v1/config", headers=auth(player))).json()["values"]
    assert values == {"price": 80, "banner": "device", "color": "grey", "lives": 3}

    patched = await client.patch("/api/v1/users/me", json={"country": "FR"}, headers=auth(player))
    assert patched.status_code == 200, patched.text
    body = (await client.get("/api/v1/config", headers=auth(player))).json()
    assert body["values"] == {"price": 80, "banner": "france", "color": "grey", "lives": 7}
    assert body["experiments"]["price_test"] == "cheap"

    email_player = await email_register(client)  # not a device player
    values = (await client.get("/api/v1/config", headers=auth(email_player))).json()["values"]
    assert values["banner"] == "base" and values["price"] == 80


async def test_experiment_variants_are_sticky_recorded_once_and_exported(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    put = await client.put(
        "/api/v1/admin/experiments/onboarding",
        json={
            "variants": [
                {"name": "control", "weight": 50, "values": {}},
                {"name": "short", "weight": 50, "values": {"tutorial_steps": 3}},
            ],
            **window(),
        },
        headers=auth(admin),
    )
    assert put.status_code == 200, put.text
    players = [await device_login(client) for _ in range(12)]
    seen: dict[str, str] = {}
    for player in players:
        for _ in range(2):
            body = (await client.get("/api/v1/config", headers=auth(player))).json()
            variant = body["experiments"]["onboarding"]
            assert seen.setdefault(player["user"]["canonical_id"], variant) == variant
            assert ("tutorial_steps" in body["values"]) == (variant == "short")
    assert set(seen.values()) == {"control", "short"}

    export = await client.get("/api/v1/admin/experiments/onboarding/exposures", headers=auth(admin))
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    exported = {r["canonical_id"]: r["variant"] for r in rows}
    assert exported == seen  # one row per player, the variant they were served
    assert len(rows) == len(seen)

    ended = await client.put(
        "/api/v1/admin/experiments/onboarding",
        json={
            "variants": [{"name": "control", "weight": 1, "values": {}}],
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2020-02-01T00:00:00Z",
        },
        headers=auth(admin),
    )
    assert ended.status_code == 200
    body = (await client.get("/api/v1/config", headers=auth(players[0]))).json()
    assert "onboarding" not in body["experiments"]


async def test_bad_experiments_are_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await staff_login(client, runtime)
    backwards = {**window(), "variants": [{"name": "a", "weight": 1, "values": {}}]}
    backwards["starts_at"], backwards["ends_at"] = backwards["ends_at"], backwards["starts_at"]
    for body in (
        backwards,
        {**window(), "variants": [{"name": "a", "weight": 0, "values": {}}]},
        {**window(), "variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]},
        {**window(), "variants": []},
    ):
        response = await client.put("/api/v1/admin/experiments/bad", json=body, headers=auth(admin))
        assert response.status_code == 422, body
    assert (
        await client.get("/api/v1/admin/experiments/bad", headers=auth(admin))
    ).status_code == 404


async def test_a_players_repeated_read_follows_an_experiment_starting_and_ending(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime)
    player = await device_login(client)
    starts = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)
    put = await client.put(
        "/api/v1/admin/experiments/soon",
        json={
            "variants": [{"name": "only", "weight": 1, "values": {"banner": "soon"}}],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + dt.timedelta(seconds=3)).isoformat(),
        },
        headers=auth(admin),
    )
    assert put.status_code == 200, put.text

    async def experiments() -> dict[str, str]:
        response = await client.get("/api/v1/config", headers=auth(player))
        assert response.status_code == 200, response.text
        found: dict[str, str] = response.json()["experiments"]
        return found

    # Read again and again before, during and after the window: nothing else changes, so
    # only the clock can move the answer.
    for _ in range(3):
        assert "soon" not in await experiments()
    await asyncio.sleep(max(0.0, (starts - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    for _ in range(3):
        assert (await experiments()).get("soon") == "only"
    await asyncio.sleep(max(0.0, (starts - dt.datetime.now(dt.UTC)).total_seconds()) + 3.1)
    for _ in range(3):
        assert "soon" not in await experiments()
