"""Seasons: admin management (audited), rules on submit, and the season worker closing
them: refusing scores, freezing ranks, archives, clear, recurrence."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.leaderboards import seasons
from playerplatform.runtime import Runtime
from tests.support.leaderboards import Boards, ids
from tests.support.players import auth


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


async def _audited(runtime: Runtime, action: str, resource_id: str) -> list[AuditLog]:
    async with runtime.db.unit_of_work(write=False) as uow:
        rows = await uow.session.execute(
            sa.select(AuditLog).where(
                AuditLog.action == action, AuditLog.resource_id == resource_id
            )
        )
        return list(rows.scalars())


async def test_admin_creates_updates_and_lists_seasons_audited(boards: Boards) -> None:
    created = await boards.season(name="Spring Cup", metadata={"score_max": 1000, "map": "dunes"})
    season = created["season_id"]
    assert created["is_active"] and created["sort"] == "desc" and created["operator"] == "best"
    again = await boards.client.post(
        "/api/v1/admin/seasons",
        json={"season_id": season, "name": "x"},
        headers=auth(boards.admin),
    )
    assert again.status_code == 409 and again.json()["code"] == "season_exists"
    patched = await boards.client.patch(
        f"/api/v1/admin/seasons/{season}",
        json={"name": "Spring Cup II"},
        headers=auth(boards.admin),
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Spring Cup II"
    listed = await boards.client.get("/api/v1/leaderboards/seasons", params={"active": "true"})
    assert season in [s["season_id"] for s in listed.json()["items"]]
    assert await _audited(boards.runtime, "season.create", season)
    (update,) = await _audited(boards.runtime, "season.update", season)
    assert (
        update.old_values["name"] == "Spring Cup" and update.new_values["name"] == "Spring Cup II"
    )


async def test_season_management_needs_an_admin(boards: Boards) -> None:
    (player,) = await boards.players(1)
    response = await boards.client.post(
        "/api/v1/admin/seasons", json={"season_id": "mine", "name": "x"}, headers=auth(player)
    )
    assert response.status_code == 403
    for body in (
        {"season_id": "bad id!", "name": "x"},
        {"season_id": "ok", "name": "x", "sort": "sideways"},
        {
            "season_id": "ok",
            "name": "x",
            "recurrence": "fortnightly",
            "end_date": "2030-01-01T00:00:00Z",
        },
        {"season_id": "ok", "name": "x", "metadata": {"score_min": 5, "score_max": 1}},
        {
            "season_id": "ok",
            "name": "x",
            "start_date": "2030-01-02T00:00:00Z",
            "end_date": "2030-01-01T00:00:00Z",
        },
    ):
        bad = await boards.client.post(
            "/api/v1/admin/seasons", json=body, headers=auth(boards.admin)
        )
        assert bad.status_code == 422, body


async def test_bounds_rate_and_dates_are_enforced_on_submit(boards: Boards) -> None:
    season = (
        await boards.season(
            metadata={"score_min": 0, "score_max": 100, "submission_rate": "2/minute"}
        )
    )["season_id"]
    (player,) = await boards.players(1)
    too_high = await boards.submit(season, player, 101)
    assert too_high.status_code == 422 and too_high.json()["errors"][0]["field"] == "score"
    assert (await boards.submit(season, player, -1)).status_code == 422
    assert (await boards.submit(season, player, 10)).status_code == 200
    assert (await boards.submit(season, player, 20)).status_code == 200
    limited = await boards.submit(season, player, 30)
    assert limited.status_code == 429 and "Retry-After" in limited.headers

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    future = (await boards.season(start_date=later.isoformat()))["season_id"]
    early = await boards.submit(future, player, 1)
    assert early.status_code == 409 and early.json()["code"] == "season_not_started"


async def test_authoritative_seasons_take_scores_from_game_servers_only(boards: Boards) -> None:
    season = (await boards.season(authoritative=True))["season_id"]
    (player,) = await boards.players(1)
    refused = await boards.submit(season, player, 10)
    assert refused.status_code == 403
    account = (
        await boards.client.post(
            "/api/v1/admin/service-accounts",
            json={"name": "match server", "scopes": ["leaderboards:write"]},
            headers=auth(boards.admin),
        )
    ).json()
    token = (
        await boards.client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": account["client_id"],
                "client_secret": account["client_secret"],
            },
        )
    ).json()["access_token"]
    nameless = await boards.submit(season, token, 10)
    assert nameless.status_code == 422
    ok = await boards.submit(season, token, 10, canonical_id=ids([player])[0])
    assert ok.status_code == 200 and ok.json()["rank"] == 1
    assert (await boards.ranking(season))[0][0] == ids([player])[0]


async def test_closed_season_refuses_scores_and_stays_readable(boards: Boards) -> None:
    season = (await boards.season(reset_rule="archive"))["season_id"]
    players = await boards.players(4)
    for score, player in zip((30, 10, 40, 20), players, strict=True):
        await boards.scored(season, player, score)
    before = await boards.ranking(season)
    closed = await boards.close(season)
    assert closed["state"] == "closed" and not closed["is_active"]

    refused = await boards.submit(season, players[1], 1000)
    assert refused.status_code == 409 and refused.json()["code"] == "season_closed"
    assert await boards.ranking(season) == before  # served from the archive
    stored = await boards.stored(season)
    assert sorted((row.rank, cid) for cid, row in stored.items()) == [
        (rank, cid) for cid, _score, rank in before
    ]
    around = await boards.client.get(
        f"/api/v1/leaderboards/{season}/around-me", params={"radius": 1}, headers=auth(players[3])
    )
    assert [i["rank"] for i in around.json()["items"]] == [2, 3, 4]
    me = await boards.client.get(f"/api/v1/leaderboards/{season}/me", headers=auth(players[0]))
    assert me.json()["rank"] == 2
    assert not await boards.runtime.hot.exists(f"lb:{{{season}}}:entries")  # hot keys freed
    assert await _audited(boards.runtime, "season.close", season)
    patched = await boards.client.patch(
        f"/api/v1/admin/seasons/{season}", json={"name": "again"}, headers=auth(boards.admin)
    )
    assert patched.status_code == 409 and patched.json()["code"] == "season_closed"


async def test_closing_again_changes_nothing(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 5)
    await boards.close(season)
    async with boards.runtime.db.unit_of_work() as uow:
        outcome = await seasons.close_season(uow, boards.runtime.leaderboards, season, batch=100)
    assert outcome == "already_closed"
    again = await boards.client.post(
        f"/api/v1/admin/seasons/{season}/close", headers=auth(boards.admin)
    )
    assert again.status_code == 200 and again.json()["state"] == "closed"
    assert [row.rank for row in (await boards.stored(season)).values()] == [1]


async def test_clear_removes_entries_after_close(boards: Boards) -> None:
    season = (await boards.season(reset_rule="clear"))["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 5)
    await boards.close(season)
    assert await boards.stored(season) == {}
    assert (await boards.top(season))["items"] == []


async def test_a_recurring_season_opens_the_next_one(boards: Boards) -> None:
    now = dt.datetime.now(dt.UTC)
    first = await boards.season(
        reset_rule="none",
        recurrence="daily",
        start_date=(now - dt.timedelta(days=1)).isoformat(),
        end_date=(now + dt.timedelta(hours=1)).isoformat(),
    )
    (player,) = await boards.players(1)
    await boards.scored(first["season_id"], player, 42)
    await boards.close(first["season_id"])
    following = await boards.client.get(
        f"/api/v1/admin/seasons/{first['season_id']}-2", headers=auth(boards.admin)
    )
    assert following.status_code == 200, following.text
    body = following.json()
    assert body["is_active"] and body["recurrence"] == "daily"
    assert dt.datetime.fromisoformat(body["end_date"]) > now
    # Reset rule `none`: the standing carries over into the next season.
    assert (await boards.ranking(body["season_id"]))[0][:2] == (ids([player])[0], 42)


async def test_seasons_past_their_end_close_by_themselves(boards: Boards) -> None:
    now = dt.datetime.now(dt.UTC)
    season = (
        await boards.season(
            start_date=(now - dt.timedelta(hours=1)).isoformat(),
            end_date=(now + dt.timedelta(seconds=1)).isoformat(),
        )
    )["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 1)
    await asyncio.sleep(1.1)
    late = await boards.submit(season, player, 2)
    assert late.status_code == 409 and late.json()["code"] == "season_closed"
    closed = await boards.wait_closed(season)  # the flusher's tick enqueues the close
    assert closed["state"] == "closed"
    assert [row.score for row in (await boards.stored(season)).values()] == [1]


async def test_no_score_lands_after_a_close_under_concurrent_submissions(boards: Boards) -> None:
    season = (await boards.season(operator="latest"))["season_id"]
    players = await boards.players(12)
    accepted: dict[str, float] = {}
    refused = 0
    under_way = asyncio.Event()

    async def keep_submitting(player: dict, base: int) -> None:
        nonlocal refused
        for n in range(60):
            response = await boards.submit(season, player, base * 1000 + n)
            if response.status_code == 200:
                accepted[player["user"]["canonical_id"]] = response.json()["score"]
                if len(accepted) >= 6:
                    under_way.set()
            else:
                assert response.json()["code"] == "season_closed", response.text
                refused += 1
            await asyncio.sleep(0)

    async def close_midway() -> None:
        await under_way.wait()  # scores are landing from several players: close now
        await boards.close(season)

    await asyncio.gather(*(keep_submitting(p, i) for i, p in enumerate(players)), close_midway())
    assert refused > 0 and accepted
    stored = await boards.stored(season)
    # Every accepted score is the stored one; nothing refused was kept.
    assert {cid: row.score for cid, row in stored.items()} == accepted
    # The frozen ranks are the final order: score, then earlier achievement.
    final = sorted(stored.items(), key=lambda kv: (-kv[1].score, kv[1].achieved_us))
    assert [row.rank for _cid, row in final] == list(range(1, len(final) + 1))
    assert [cid for cid, _s, _r in await boards.ranking(season)] == [cid for cid, _ in final]


async def test_season_lists_page_with_a_cursor(boards: Boards) -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    made = [
        (
            await boards.season(
                start_date=(start + dt.timedelta(days=i)).isoformat(),
                end_date=(start + dt.timedelta(days=30 + i)).isoformat(),
            )
        )["season_id"]
        for i in range(3)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"active": "false", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await boards.client.get("/api/v1/leaderboards/seasons", params=params)).json()
        seen += [s["season_id"] for s in page["items"]]
        assert all(not s["is_active"] for s in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [s for s in seen if s in made] == made[::-1]  # newest start first
    bad = await boards.client.get("/api/v1/leaderboards/seasons", params={"cursor": "garbage"})
    assert bad.status_code == 422
    patched = await boards.client.patch(
        f"/api/v1/admin/seasons/{made[0]}",
        json={"metadata": {"score_min": 3, "score_max": 1}},
        headers=auth(boards.admin),
    )
    assert patched.status_code == 422


async def test_a_close_that_crashed_midway_is_redone_whole(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(3)
    for score, player in enumerate(players):
        await boards.scored(season, player, score)

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        async with boards.runtime.db.unit_of_work() as uow:
            await seasons.close_season(uow, boards.runtime.leaderboards, season, batch=2)
            raise Crash  # the worker died before its commit: nothing of it is kept
    assert all(row.rank is None for row in (await boards.stored(season)).values())
    state = await boards.client.get(f"/api/v1/admin/seasons/{season}", headers=auth(boards.admin))
    assert state.json()["state"] == "open"
    refused = await boards.submit(season, players[0], 100)
    assert refused.status_code == 409  # the flag it set first still holds
    async with boards.runtime.db.unit_of_work() as uow:
        outcome = await seasons.close_season(uow, boards.runtime.leaderboards, season, batch=2)
    assert outcome == "closed"
    stored = await boards.stored(season)
    assert sorted((row.rank, row.score) for row in stored.values()) == [(1, 2), (2, 1), (3, 0)]


async def test_a_due_season_closes_behind_a_thousand_that_have_not_started(
    boards: Boards, runtime: Runtime
) -> None:
    # The flusher's work list is every season not yet closed: one past any page size still
    # closes, and the seasons nobody plays yet are not loaded into the hot store.
    from playerplatform.leaderboards.models import Season

    now = dt.datetime.now(dt.UTC)
    later = [
        {
            "season_id": f"s-later-{n:04d}-{secrets.token_hex(3)}",
            "name": "Not yet",
            "type": "global",
            "sort": "desc",
            "operator": "best",
            "reset_rule": "archive",
            "start_date": now + dt.timedelta(days=30, seconds=n),
            "series": "later",
            "meta": {},
        }
        for n in range(1_001)
    ]
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(sa.insert(Season), later)
    try:
        due = (
            await boards.season(
                start_date=(now - dt.timedelta(hours=1)).isoformat(),
                end_date=(now + dt.timedelta(seconds=1)).isoformat(),
            )
        )["season_id"]
        await asyncio.sleep(1.1)
        assert (await boards.wait_closed(due))["state"] == "closed"
        loaded = [
            await runtime.hot.exists(f"lb:{{{row['season_id']}}}:loaded") for row in later[:20]
        ]
        assert not any(loaded)
    finally:
        async with runtime.db.unit_of_work() as uow:
            await uow.session.execute(sa.delete(Season).where(Season.series == "later"))


async def test_the_cached_season_list_follows_writes_and_the_clock(boards: Boards) -> None:
    """The list is a cached view: a season created, renamed or reaching its start or end
    shows on the next read, though nothing is written when a season starts or ends."""

    async def listed(active: bool) -> dict[str, str]:
        params = {"active": str(active).lower(), "limit": 100}
        page = await boards.client.get("/api/v1/leaderboards/seasons", params=params)
        assert page.status_code == 200, page.text
        return {s["season_id"]: s["name"] for s in page.json()["items"]}

    await listed(True), await listed(False)  # stored
    start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    end = start + dt.timedelta(seconds=2)
    season = (
        await boards.season(name="Soon", start_date=start.isoformat(), end_date=end.isoformat())
    )["season_id"]
    assert season not in await listed(True) and season in await listed(False)
    renamed = await boards.client.patch(
        f"/api/v1/admin/seasons/{season}", json={"name": "Sooner"}, headers=auth(boards.admin)
    )
    assert renamed.status_code == 200, renamed.text
    assert (await listed(False))[season] == "Sooner"

    await asyncio.sleep((start - dt.datetime.now(dt.UTC)).total_seconds() + 0.2)
    assert season in await listed(True) and season not in await listed(False)
    await asyncio.sleep((end - dt.datetime.now(dt.UTC)).total_seconds() + 0.2)
    assert season not in await listed(True) and season in await listed(False)
