"""Ranks: unique, score in the season's order then earliest achievement; every operator;
the views (top with offset, around-me at both ends, me, friends, regional)."""

from __future__ import annotations

import httpx
import pytest

from playerplatform.runtime import Runtime
from tests.support.leaderboards import Boards, ids
from tests.support.players import auth


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


async def test_descending_ties_go_to_the_earlier_score(boards: Boards) -> None:
    season = (await boards.season(sort="desc"))["season_id"]
    a, b, c, d = await boards.players(4, named="Racer")
    for player, score in ((a, 50), (b, 70), (c, 50), (d, 90)):
        await boards.scored(season, player, score)
    ranking = await boards.ranking(season)
    assert ranking == [
        (ids([d])[0], 90, 1),
        (ids([b])[0], 70, 2),
        (ids([a])[0], 50, 3),  # reached 50 before c did
        (ids([c])[0], 50, 4),
    ]
    page = await boards.top(season)
    assert page["total"] == 4
    assert page["items"][0]["user"]["display_name"] == "Racer3"


async def test_ascending_ties_go_to_the_earlier_score(boards: Boards) -> None:
    season = (await boards.season(sort="asc"))["season_id"]
    a, b, c = await boards.players(3)
    assert (await boards.scored(season, a, 31.5))["rank"] == 1
    assert (await boards.scored(season, b, 30.25))["rank"] == 1
    assert (await boards.scored(season, c, 31.5))["rank"] == 3
    assert [r[0] for r in await boards.ranking(season)] == ids([b, a, c])


async def test_best_keeps_the_better_score_and_its_time(boards: Boards) -> None:
    season = (await boards.season(operator="best"))["season_id"]
    a, b = await boards.players(2)
    assert await boards.scored(season, a, 100) == {"rank": 1, "score": 100, "improved": True}
    assert await boards.scored(season, b, 100) == {"rank": 2, "score": 100, "improved": True}
    assert await boards.scored(season, a, 80) == {"rank": 1, "score": 100, "improved": False}
    # Equalling your best is not an improvement and keeps your earlier time.
    assert await boards.scored(season, b, 100) == {"rank": 2, "score": 100, "improved": False}
    assert await boards.scored(season, b, 101) == {"rank": 1, "score": 101, "improved": True}


async def test_latest_replaces_even_a_worse_score(boards: Boards) -> None:
    season = (await boards.season(operator="latest"))["season_id"]
    a, b = await boards.players(2)
    await boards.scored(season, a, 100)
    await boards.scored(season, b, 50)
    assert await boards.scored(season, a, 10) == {"rank": 2, "score": 10, "improved": False}
    assert [r[:2] for r in await boards.ranking(season)] == [(ids([b])[0], 50), (ids([a])[0], 10)]


async def test_increment_adds_up(boards: Boards) -> None:
    season = (await boards.season(operator="increment"))["season_id"]
    a, b = await boards.players(2)
    await boards.scored(season, a, 5)
    await boards.scored(season, b, 7)
    assert await boards.scored(season, a, 3) == {"rank": 1, "score": 8, "improved": True}
    assert (await boards.scored(season, b, -2))["score"] == 5
    assert [r[1] for r in await boards.ranking(season)] == [8, 5]


async def test_top_pages_with_offset(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(6)
    for score, player in enumerate(players):
        await boards.scored(season, player, score)
    page = await boards.top(season, limit=2, offset=2)
    assert page["total"] == 6
    assert [i["rank"] for i in page["items"]] == [3, 4]
    assert [i["user"]["canonical_id"] for i in page["items"]] == ids(players[3:1:-1])
    assert (await boards.top(season, limit=5, offset=6))["items"] == []


async def test_around_me_keeps_a_full_page_at_both_ends(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(7)
    for score, player in enumerate(players):  # players[6] is first, players[0] last
        await boards.scored(season, player, score)
    url = f"/api/v1/leaderboards/{season}/around-me"

    first = await boards.client.get(url, params={"radius": 2}, headers=auth(players[6]))
    assert [i["rank"] for i in first.json()["items"]] == [1, 2, 3, 4, 5]
    last = await boards.client.get(url, params={"radius": 2}, headers=auth(players[0]))
    assert [i["rank"] for i in last.json()["items"]] == [3, 4, 5, 6, 7]
    middle = await boards.client.get(url, params={"radius": 1}, headers=auth(players[3]))
    assert [i["rank"] for i in middle.json()["items"]] == [3, 4, 5]
    assert middle.json()["items"][1]["user"]["canonical_id"] == ids([players[3]])[0]
    wide = await boards.client.get(url, params={"radius": 20}, headers=auth(players[3]))
    assert len(wide.json()["items"]) == 7

    stranger = (await boards.players(1))[0]
    nobody = await boards.client.get(url, headers=auth(stranger))
    assert nobody.status_code == 200 and nobody.json()["items"] == []


async def test_me_is_my_entry_or_404(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    a, b = await boards.players(2)
    await boards.scored(season, a, 10, metadata={"car": "red"})
    mine = await boards.client.get(f"/api/v1/leaderboards/{season}/me", headers=auth(a))
    assert mine.status_code == 200
    assert mine.json()["rank"] == 1 and mine.json()["metadata"] == {"car": "red"}
    none = await boards.client.get(f"/api/v1/leaderboards/{season}/me", headers=auth(b))
    assert none.status_code == 404 and none.json()["code"] == "not_found"


async def test_friends_view_ranks_me_and_my_friends_only(boards: Boards) -> None:
    season = (await boards.season(type="friends"))["season_id"]
    me, friend, stranger = await boards.players(3)
    for one, other in ((me, friend), (friend, me)):
        await boards.client.put(
            f"/api/v1/users/me/friends/{other['user']['canonical_id']}", headers=auth(one)
        )
    await boards.scored(season, stranger, 99)
    await boards.scored(season, me, 10)
    await boards.scored(season, friend, 20)
    response = await boards.client.get(f"/api/v1/leaderboards/{season}/friends", headers=auth(me))
    items = response.json()["items"]
    assert [(i["user"]["canonical_id"], i["rank"]) for i in items] == [
        (ids([friend])[0], 2),
        (ids([me])[0], 3),
    ]


async def test_regional_boards_rank_within_the_region(boards: Boards) -> None:
    season = (await boards.season(type="regional"))["season_id"]
    eu1, eu2, na1 = await boards.players(3)
    missing = await boards.submit(season, eu1, 1)
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error"
    await boards.scored(season, eu1, 10, region="eu")
    await boards.scored(season, na1, 30, region="na")
    await boards.scored(season, eu2, 20, region="eu")
    eu = await boards.top(season, region="eu")
    assert [(i["user"]["canonical_id"], i["rank"]) for i in eu["items"]] == [
        (ids([eu2])[0], 1),
        (ids([eu1])[0], 2),
    ]
    assert eu["total"] == 2
    assert [r[2] for r in await boards.ranking(season)] == [1, 2, 3]  # the whole board
    around = await boards.client.get(
        f"/api/v1/leaderboards/{season}/around-me", params={"region": "na"}, headers=auth(na1)
    )
    assert [i["rank"] for i in around.json()["items"]] == [1]


async def test_bad_scores_and_unknown_seasons(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (a,) = await boards.players(1)
    for body in ({"score": "ten"}, {}, {"score": 1e300}, {"score": 1, "region": "no spaces"}):
        response = await boards.client.post(
            f"/api/v1/leaderboards/{season}/scores", json=body, headers=auth(a)
        )
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    unknown = await boards.submit("no-such-season", a, 1)
    assert unknown.status_code == 404
    assert (await boards.client.get("/api/v1/leaderboards/no-such-season")).status_code == 404
    big = await boards.submit(season, a, 1, metadata={"blob": "x" * 5000})
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
