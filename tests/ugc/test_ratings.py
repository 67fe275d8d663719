"""Ratings: one per player and item, changeable; the item's count and average follow every
change, also when one player's ratings of an item race each other."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from playerplatform.ugc.models import Ugc, UgcRating
from tests.support.ugc import World


async def test_ratings_of_many_players_keep_the_count_and_average(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"a rated map")
    first, second = await local.player(), await local.player()

    async def rate(player: dict[str, str], value: int) -> dict[str, object]:
        answer = await local.client.put(
            f"/api/v1/ugc/{ugc_id}/rating", json={"value": value}, headers=player
        )
        assert answer.status_code == 200
        body: dict[str, object] = answer.json()
        assert body["ugc_id"] == ugc_id and body["value"] == value
        return body

    assert (await rate(first, 5))["rating"] == {"average": 5.0, "count": 1}
    assert (await rate(second, 2))["rating"] == {"average": 3.5, "count": 2}
    assert (await rate(second, 2))["rating"] == {"average": 3.5, "count": 2}  # the same again
    assert (await rate(first, 1))["rating"] == {"average": 1.5, "count": 2}
    assert (await local.item(first, ugc_id))["rating"] == {"average": 1.5, "count": 2}


async def test_one_players_racing_ratings_count_once(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"a raced map")
    player = await local.player()
    answers = await asyncio.gather(
        *(
            local.client.put(
                f"/api/v1/ugc/{ugc_id}/rating", json={"value": 1 + n % 5}, headers=player
            )
            for n in range(10)
        )
    )
    assert {a.status_code for a in answers} == {200}
    rating = (await local.item(player, ugc_id))["rating"]
    assert rating["count"] == 1
    assert rating["average"] in {1.0, 2.0, 3.0, 4.0, 5.0}


async def test_many_players_rating_and_changing_at_once_keep_the_exact_sum(local: World) -> None:
    """Every rating of one item at once, some players twice with different values from two
    devices: the item's count and sum are exactly those of the ratings stored."""
    creator = await local.player()
    ugc_id = await local.published(creator, b"a busy map")
    players = [await local.player() for _ in range(12)]
    calls = [(p, 1 + n % 5) for n, p in enumerate(players)]
    calls += [(p, 5 - n % 5) for n, p in enumerate(players[:6])]  # their second device
    answers = await asyncio.gather(
        *(
            local.client.put(f"/api/v1/ugc/{ugc_id}/rating", json={"value": v}, headers=p)
            for p, v in calls
        )
    )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    async with local.runtime.db.unit_of_work(write=False) as uow:
        item = (
            await uow.session.execute(
                sa.select(Ugc.id, Ugc.rating_sum, Ugc.rating_count).where(Ugc.public_id == ugc_id)
            )
        ).one()
        stored = list(
            (
                await uow.session.execute(
                    sa.select(UgcRating.value).where(UgcRating.ugc_id == item.id)
                )
            ).scalars()
        )
    assert len(stored) == len(players)
    assert (item.rating_sum, item.rating_count) == (sum(stored), len(stored))
    shown = (await local.item(players[0], ugc_id))["rating"]
    assert shown == {"average": round(sum(stored) / len(stored), 3), "count": len(stored)}
