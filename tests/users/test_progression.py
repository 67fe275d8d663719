"""Saved progression: versioned, written only by whoever read the current version."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.players import auth, device_login

PATH = "/api/v1/users/me/progression"


async def _save(
    client: httpx.AsyncClient, player: dict, if_match: str | None, data: object
) -> httpx.Response:
    headers = auth(player)
    if if_match is not None:
        headers["If-Match"] = if_match
    return await client.put(PATH, headers=headers, json={"data": data})


async def test_new_player_has_version_zero_and_empty_data(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    response = await client.get(PATH, headers=auth(player))
    assert response.status_code == 200
    assert response.json() == {"version": 0, "data": {}, "updated_at": None}
    assert response.headers["etag"] == '"0"'


async def test_each_save_bumps_the_version_and_etag(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    first = await _save(client, player, '"0"', {"level": 1, "items": ["sword"]})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert first.headers["etag"] == '"1"'
    assert first.json()["updated_at"] is not None

    second = await _save(client, player, "1", {"level": 2})
    assert second.status_code == 200
    assert second.json()["version"] == 2

    read = await client.get(PATH, headers=auth(player))
    assert read.json()["version"] == 2
    assert read.json()["data"] == {"level": 2}
    assert read.headers["etag"] == '"2"'


async def test_stale_if_match_is_refused(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    await _save(client, player, "0", {"level": 1})
    await _save(client, player, "1", {"level": 2})
    for stale in ("1", '"0"', "7", "abc", "*"):
        response = await _save(client, player, stale, {"level": 99})
        assert response.status_code == 412, stale
        assert response.json()["code"] == "precondition_failed"
    read = await client.get(PATH, headers=auth(player))
    assert read.json()["data"] == {"level": 2}


async def test_missing_if_match_is_428(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    response = await _save(client, player, None, {"level": 1})
    assert response.status_code == 428
    assert response.json()["code"] == "precondition_required"
    assert (await client.get(PATH, headers=auth(player))).json()["version"] == 0


async def test_oversize_progression_is_413_and_not_stored(
    client: httpx.AsyncClient, settings
) -> None:
    player = await device_login(client)
    blob = "x" * (settings.progression_max_bytes + 1)
    response = await _save(client, player, "0", {"blob": blob})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert (await client.get(PATH, headers=auth(player))).json()["version"] == 0


@pytest.mark.parametrize(
    "content",
    [
        b'{"data": {"hp": NaN}}',
        b'{"data": {"hp": -Infinity}}',
        b'{"data": {"gold": 123456789012345678901234567890}}',
        b'{"data": {"name": "\\ud800"}}',
        b'{"data": [1, 2]}',
        b'{"data": "text"}',
        b'{"data": {}, "extra": 1}',
        b'{"data": ' + b'{"a": ' * 80 + b"1" + b"}" * 80 + b"}",
    ],
)
async def test_progression_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient, content: bytes
) -> None:
    player = await device_login(client)
    response = await client.put(
        PATH,
        headers={**auth(player), "If-Match": "0", "Content-Type": "application/json"},
        content=content,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


async def test_twenty_concurrent_writers_with_one_version_one_wins(
    client: httpx.AsyncClient,
) -> None:
    player = await device_login(client)
    await _save(client, player, "0", {"round": 0})
    responses = await asyncio.gather(
        *(_save(client, player, "1", {"writer": n}) for n in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19
    winner = next(r for r in responses if r.status_code == 200).json()
    read = (await client.get(PATH, headers=auth(player))).json()
    assert read["version"] == 2
    assert read["data"] == winner["data"]


async def test_concurrent_first_saves_never_fail_with_500(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    responses = await asyncio.gather(*(_save(client, player, "0", {"w": n}) for n in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19
    assert (await client.get(PATH, headers=auth(player))).json()["version"] == 1
