"""Fair play: moderators remove entries (audited, for good), banned players vanish from
every view, and merging two accounts keeps the better entry."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.kit.db import UnitOfWork
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.leaderboards import Boards, ids
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


async def _remove(boards: Boards, staff: dict, season: str, canonical_id: str) -> httpx.Response:
    return await boards.client.request(
        "DELETE",
        f"/api/v1/moderation/leaderboards/{season}/entries/{canonical_id}",
        json={"reason": "impossible lap time"},
        headers=auth(staff),
    )


async def test_a_removed_entry_leaves_every_view_and_stays_removed(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    cheat, honest = await boards.players(2)
    moderator = await staff_login(boards.client, boards.runtime, "moderator")
    await boards.scored(season, cheat, 999)
    await boards.scored(season, honest, 10)

    assert (await _remove(boards, honest, season, ids([cheat])[0])).status_code == 403
    response = await _remove(boards, moderator, season, ids([cheat])[0])
    assert response.status_code == 204
    assert await boards.ranking(season) == [(ids([honest])[0], 10, 1)]
    me = await boards.client.get(f"/api/v1/leaderboards/{season}/me", headers=auth(cheat))
    assert me.status_code == 404
    again = await boards.submit(season, cheat, 1000)
    assert again.status_code == 403 and again.json()["code"] == "entry_removed"

    # Durable: the row is marked, a late write-behind does not bring it back, nor a rebuild.
    await boards.write_behind(season)
    stored = await boards.stored(season)
    assert stored[ids([cheat])[0]].removed_at is not None
    rules = await boards.runtime.leaderboards.season(season)
    await boards.runtime.leaderboards.boards.drop(rules.board)
    await boards.runtime.leaderboards.ensure_loaded(rules)
    assert await boards.ranking(season) == [(ids([honest])[0], 10, 1)]
    assert (await boards.submit(season, cheat, 5)).status_code == 403

    async with boards.runtime.db.unit_of_work(write=False) as uow:
        (entry,) = (
            await uow.session.execute(
                sa.select(AuditLog).where(
                    AuditLog.action == "leaderboard.entry_remove",
                    AuditLog.resource_id == f"{season}/{ids([cheat])[0]}",
                )
            )
        ).scalars()
    assert entry.actor_id == moderator["user"]["canonical_id"]
    assert entry.new_values == {"removed": True, "reason": "impossible lap time"}
    nothing = await _remove(boards, moderator, season, ids([honest])[0] + "x")
    assert nothing.status_code == 404


async def test_banned_players_are_hidden_from_every_view(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    banned, friend, other = await boards.players(3)
    for one, two in ((banned, friend), (friend, banned)):
        await boards.client.put(
            f"/api/v1/users/me/friends/{two['user']['canonical_id']}", headers=auth(one)
        )
    await boards.scored(season, banned, 50)
    await boards.scored(season, friend, 40)
    await boards.scored(season, other, 30)
    moderator = await staff_login(boards.client, boards.runtime, "moderator")
    response = await boards.client.post(
        f"/api/v1/admin/users/{ids([banned])[0]}/ban",
        json={"reason": "cheating"},
        headers=auth(moderator),
    )
    assert response.status_code == 200, response.text
    boards.runtime.leaderboards.forget_cards()  # as the card cache expiring does

    assert [cid for cid, _s, _r in await boards.ranking(season)] == ids([friend, other])
    around = await boards.client.get(
        f"/api/v1/leaderboards/{season}/around-me", headers=auth(friend)
    )
    assert ids([banned])[0] not in [i["user"]["canonical_id"] for i in around.json()["items"]]
    mine = await boards.client.get(f"/api/v1/leaderboards/{season}/friends", headers=auth(friend))
    assert [i["user"]["canonical_id"] for i in mine.json()["items"]] == ids([friend])
    await boards.close(season)
    assert [cid for cid, _s, _r in await boards.ranking(season)] == ids([friend, other])


async def test_merging_accounts_keeps_the_better_entry(boards: Boards) -> None:
    better_here = (await boards.season())["season_id"]
    better_there = (await boards.season(sort="asc"))["season_id"]
    only_old = (await boards.season())["season_id"]
    old_device = f"device-{secrets.token_hex(8)}"
    old = await device_login(boards.client, old_device)
    new = await device_login(boards.client)
    await boards.scored(better_here, old, 10)
    await boards.scored(better_here, new, 20)
    await boards.scored(better_there, old, 5)
    await boards.scored(better_there, new, 9)
    await boards.scored(only_old, old, 77)
    await boards.write_behind(better_here)  # one season durable already, the others not

    conflict = await boards.client.post(
        "/api/v1/auth/links/device", json={"device_id": old_device}, headers=auth(new)
    )
    assert conflict.status_code == 409, conflict.text
    merged = await boards.client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=auth(new),
    )
    assert merged.status_code == 200, merged.text

    survivor = ids([new])[0]
    assert await boards.ranking(better_here) == [(survivor, 20, 1)]
    assert await boards.ranking(better_there) == [(survivor, 5, 1)]
    assert await boards.ranking(only_old) == [(survivor, 77, 1)]
    for season, score in ((better_here, 20), (better_there, 5), (only_old, 77)):
        await boards.write_behind(season)
        stored = await boards.stored(season)
        assert {cid: row.score for cid, row in stored.items()} == {survivor: score}


async def _mark_merged(uow: UnitOfWork, gone: str, survivor: str) -> None:
    """What a merge does to the account merged away (its entries aside)."""
    survivor_id = sa.select(User.id).where(User.canonical_id == survivor).scalar_subquery()
    await uow.session.execute(
        sa.update(User)
        .where(User.canonical_id == gone)
        .values(status="merged", merged_into_id=survivor_id)
    )


async def test_a_write_behind_never_writes_back_a_merged_away_account(boards: Boards) -> None:
    """A merge commits, then moves the account's live entries in the hot store: a
    write-behind running in between still finds the merged-away account's entry there."""
    season_id = (await boards.season())["season_id"]
    old, new = await device_login(boards.client), await device_login(boards.client)
    await boards.scored(season_id, old, 10)
    await boards.scored(season_id, new, 20)
    [gone, survivor] = ids([old, new])
    async with boards.runtime.db.unit_of_work() as uow:  # the merge, committed
        await _mark_merged(uow, gone, survivor)
    await boards.write_behind(season_id)
    stored = await boards.stored(season_id)
    assert {cid: row.score for cid, row in stored.items()} == {survivor: 20}


async def test_a_write_behind_waits_for_a_merge_in_progress(boards: Boards) -> None:
    """The merge holds both accounts while it moves their entries; a write-behind that starts
    meanwhile must not write the merged-away account's entry once the merge commits."""
    season_id = (await boards.season())["season_id"]
    old, new = await device_login(boards.client), await device_login(boards.client)
    await boards.scored(season_id, old, 10)
    await boards.scored(season_id, new, 20)
    [gone, survivor] = ids([old, new])
    async with boards.runtime.db.unit_of_work() as uow:  # the merge, holding both accounts
        locked = sa.select(User).where(User.canonical_id.in_([gone, survivor])).order_by(User.id)
        if uow.dialect == "postgresql":
            locked = locked.with_for_update()
        await uow.session.execute(locked)
        await _mark_merged(uow, gone, survivor)
        flushing = asyncio.create_task(boards.write_behind(season_id))
        await asyncio.sleep(0.5)  # the write-behind reads the accounts while they are held
    await flushing
    stored = await boards.stored(season_id)
    assert {cid: row.score for cid, row in stored.items()} == {survivor: 20}
