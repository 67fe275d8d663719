"""Scores are taken as the JSON numbers they are (never coerced, never rounded), written the
same way by every route, and what the database cannot store never gets onto a board."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from playerplatform.runtime import Runtime
from tests.support.leaderboards import Boards, ids
from tests.support.players import auth

EXACT_LIMIT = 2**53


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


@pytest.mark.parametrize(
    "score",
    ["100", "1e3", True, False, None, [100], {"v": 1}, EXACT_LIMIT + 1, -EXACT_LIMIT - 1, 1.5e16],
)
async def test_a_score_that_is_not_an_exact_number_is_refused(boards: Boards, score: Any) -> None:
    season = await boards.season()
    (player,) = await boards.players(1)
    response = await boards.submit(season["season_id"], player, score)
    assert response.status_code == 422, (score, response.text)
    assert [e["field"] for e in response.json()["errors"]] == ["score"]
    assert (await boards.top(season["season_id"]))["items"] == []


async def test_a_score_reads_the_same_on_every_route(boards: Boards) -> None:
    season = await boards.season()
    sid = season["season_id"]
    players = await boards.players(3)
    me = auth(players[0])
    for player in players[1:]:
        await boards.client.put(f"/api/v1/users/me/friends/{ids([player])[0]}", headers=me)
        await boards.client.put(
            f"/api/v1/users/me/friends/{ids(players[:1])[0]}", headers=auth(player)
        )
    assert (await boards.scored(sid, players[0], 1155))["score"] == 1155
    assert (await boards.scored(sid, players[1], 12.5))["score"] == 12.5
    assert (await boards.scored(sid, players[2], EXACT_LIMIT))["score"] == EXACT_LIMIT
    reads = [
        (await boards.top(sid))["items"],
        (await boards.client.get(f"/api/v1/leaderboards/{sid}/around-me", headers=me)).json()[
            "items"
        ],
        (await boards.client.get(f"/api/v1/leaderboards/{sid}/friends", headers=me)).json()[
            "items"
        ],
    ]
    mine = await boards.client.get(f"/api/v1/leaderboards/{sid}/me", headers=me)
    for items in reads:
        scores = {i["user"]["canonical_id"]: i["score"] for i in items}
        assert scores == dict(zip(ids(players), [1155, 12.5, EXACT_LIMIT], strict=True))
    assert mine.json()["score"] == 1155
    assert '"score":1155,' in mine.text, mine.text


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"n": "x\u0000y"}, "metadata.n"),
        ({"k\u0000": 1}, "metadata.k\u0000"),
        ({"n": ["\ud800"]}, "metadata.n.0"),
        ({"n": 2**60}, "metadata"),
    ],
)
async def test_metadata_the_database_cannot_store_never_reaches_the_board(
    boards: Boards, metadata: dict[str, Any], field: str
) -> None:
    """A NUL in a score's metadata used to be accepted into the hot store and then fail the
    season's write-behind on PostgreSQL for everyone: the edge refuses it."""
    season = await boards.season()
    sid = season["season_id"]
    good, bad = await boards.players(2)
    await boards.scored(sid, good, 10, metadata={"ok": True})
    response = await boards.client.post(
        f"/api/v1/leaderboards/{sid}/scores",
        content=json.dumps({"score": 20, "metadata": metadata}).encode(),  # escapes as JSON does
        headers={**auth(bad), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert [i["score"] for i in (await boards.top(sid))["items"]] == [10]
    assert await boards.write_behind(sid) >= 1
    assert set(await boards.stored(sid)) == set(ids([good]))


async def test_metadata_nested_too_deep_is_refused(boards: Boards) -> None:
    season = await boards.season()
    (player,) = await boards.players(1)

    def nested(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value]
        return value

    # Past the body's limit (64 levels), and past a free-form field's own (32) within it.
    for depth_value in (nested(300), {"a": nested(33)}):
        response = await boards.submit(season["season_id"], player, 5, metadata={"x": depth_value})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "metadata"
