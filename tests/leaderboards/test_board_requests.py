"""Score submission, top and around-me, the routes games call most: every unusual request gets
the route's own validation and errors, and the common ones their answers."""

from __future__ import annotations

import httpx
import pytest

from playerplatform.leaderboards.schemas import BoardPage, ScoreOut
from playerplatform.runtime import Runtime
from tests.support.leaderboards import Boards
from tests.support.players import auth


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


async def test_bad_score_bodies_get_field_errors_and_change_nothing(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    url = f"/api/v1/leaderboards/{season}/scores"
    for body in (
        '{"score": "high"}',
        '{"score": 1, "extra": true}',
        "{}",
        "[1]",
        '{"score": 1e999}',
    ):
        response = await boards.client.post(
            url, content=body, headers={**auth(player), "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "validation_error"
    malformed = await boards.client.post(
        url, content="{", headers={**auth(player), "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert await boards.ranking(season) == []

    accepted = await boards.client.post(url, json={"score": 12.5}, headers=auth(player))
    assert accepted.status_code == 200, accepted.text
    assert "RateLimit-Remaining" in accepted.headers
    assert ScoreOut.model_validate(accepted.json()) == ScoreOut(rank=1, score=12.5, improved=True)


async def test_board_reads_validate_queries_and_count_anonymous_callers(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(3)
    for score, player in enumerate(players):
        await boards.scored(season, player, score)
    url = f"/api/v1/leaderboards/{season}"
    anonymous = await boards.client.get(url, params={"limit": 2})
    assert anonymous.status_code == 200
    assert "RateLimit-Remaining" in anonymous.headers
    page = BoardPage.model_validate(anonymous.json())
    assert [e.rank for e in page.items] == [1, 2] and page.total == 3
    for query in (
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?offset=-1",
        "?region=%20",
    ):
        response = await boards.client.get(url + query)
        assert response.status_code == 422, (query, response.text)
    assert (await boards.client.get(url + "?other=1")).status_code == 200  # ignored, as before
    repeated = await boards.client.get(url + "?limit=1&limit=2")  # the last one wins, as before
    assert repeated.status_code == 200 and len(repeated.json()["items"]) == 2

    around = f"{url}/around-me"
    assert (await boards.client.get(around)).status_code == 401
    mine = await boards.client.get(around, params={"radius": 0}, headers=auth(players[0]))
    assert mine.status_code == 200
    assert [e["rank"] for e in mine.json()["items"]] == [3]  # the lowest score, last
    assert (
        await boards.client.get(around + "?radius=51", headers=auth(players[0]))
    ).status_code == 422
    unknown = await boards.client.get("/api/v1/leaderboards/no-such-season")
    assert unknown.status_code == 404


async def test_remembered_route_matches_route_every_request_as_the_router_does(
    boards: Boards,
) -> None:
    """Hot routes with path parameters are remembered per path after their first match
    (`remember_hot_matches`); fixed paths declared before the template, other methods on the
    same path and requests the hot handler hands over still go where the router sends them."""
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 10)
    for _ in range(3):
        top = await boards.client.get(f"/api/v1/leaderboards/{season}")
        assert top.status_code == 200
        assert [i.score for i in BoardPage.model_validate(top.json()).items] == [10]
        assert top.headers["content-length"] == str(len(top.content))
        seasons = await boards.client.get("/api/v1/leaderboards/seasons")
        assert seasons.status_code == 200 and "items" in seasons.json()
        assert season in {s["season_id"] for s in seasons.json()["items"]}
        assert (await boards.client.delete(f"/api/v1/leaderboards/{season}")).status_code == 405
        mine = await boards.client.get(
            f"/api/v1/leaderboards/{season}/around-me", headers=auth(player)
        )
        assert [i["score"] for i in mine.json()["items"]] == [10]
        anonymous = await boards.client.get(f"/api/v1/leaderboards/{season}/around-me")
        assert anonymous.status_code == 401  # handed over: the endpoint's own answer
