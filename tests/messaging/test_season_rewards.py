"""Season rewards: closing a season sends each ranked player their rank, with their tier's
rewards attached, exactly once even when the close runs again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import in_unit_of_work
from playerplatform.leaderboards import repository, rewards, seasons
from playerplatform.runtime import Runtime
from tests.support.commerce import balance, create_sku, owned
from tests.support.leaderboards import Boards
from tests.support.messaging import INBOX, inbox
from tests.support.players import auth


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


def _season_messages(items: list[dict[str, Any]], season_id: str) -> list[dict[str, Any]]:
    return [m for m in items if m["data"].get("season_id") == season_id]


async def test_rewards_are_sent_once_by_rank_tier(boards: Boards, runtime: Runtime) -> None:
    gems = await create_sku(boards.client, boards.admin, type="consumable", quantity=10)
    crown = await create_sku(boards.client, boards.admin)
    tiers = [
        {"from_rank": 1, "to_rank": 1, "attachments": [{"sku_id": crown["sku_id"]}]},
        {"from_rank": 2, "to_rank": 2, "attachments": [{"sku_id": gems["sku_id"], "quantity": 3}]},
    ]
    created = await boards.season(reward_tiers=tiers)
    season = created["season_id"]
    assert created["reward_tiers"][0]["attachments"] == [{"sku_id": crown["sku_id"], "quantity": 1}]
    first, second, third = await boards.players(3)
    for player, score in ((first, 30), (second, 20), (third, 10)):
        await boards.scored(season, player, score)
    await boards.close(season)

    # The close running again (a retry, a second worker), and the reward step itself again.
    async with runtime.db.unit_of_work() as uow:
        again = await seasons.close_season(uow, runtime.leaderboards, season, batch=100, rt=runtime)
    assert again == "already_closed"

    async def resend(uow: UnitOfWork) -> None:
        stored = await repository.get_season(uow, season)
        assert stored is not None
        await rewards.tell_ranked_players(uow, runtime, stored)

    await in_unit_of_work(runtime.db, resend)

    mine = {}
    for name, player in (("first", first), ("second", second), ("third", third)):
        [message] = _season_messages((await inbox(boards.client, player))["items"], season)
        mine[name] = message
    assert mine["first"]["kind"] == "reward" and mine["first"]["data"]["rank"] == 1
    assert mine["second"]["attachments"] == [{"sku_id": gems["sku_id"], "quantity": 3}]
    assert mine["third"]["kind"] == "system" and mine["third"]["attachments"] == []
    assert mine["third"]["body"] == "You finished #3."

    for player, message in ((first, mine["first"]), (second, mine["second"])):
        claim = await boards.client.post(
            f"{INBOX}/{message['message_id']}/claim", headers=auth(player)
        )
        assert claim.status_code == 200, claim.text
    assert await owned(boards.client, first, crown["sku_id"])
    assert await balance(boards.client, second, gems["sku_id"]) == 30


async def test_bad_reward_tiers_are_refused(boards: Boards) -> None:
    sword = await create_sku(boards.client, boards.admin)
    for tiers in (
        [{"from_rank": 3, "to_rank": 1, "attachments": [{"sku_id": sword["sku_id"]}]}],
        [{"from_rank": 0, "to_rank": 1, "attachments": [{"sku_id": sword["sku_id"]}]}],
        [{"from_rank": 1, "to_rank": 1, "attachments": []}],
        [{"from_rank": 1, "to_rank": 1, "attachments": [{"sku_id": "no-such-sku"}]}],
        [
            {
                "from_rank": 1,
                "to_rank": 1,
                "attachments": [{"sku_id": sword["sku_id"], "quantity": -1}],
            }
        ],
    ):
        answer = await boards.client.post(
            "/api/v1/admin/seasons",
            json={"season_id": "s-bad-tiers", "name": "x", "reward_tiers": tiers},
            headers=auth(boards.admin),
        )
        assert answer.status_code == 422, (tiers, answer.text)
