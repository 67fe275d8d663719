"""Erasure: after the grace period nothing personal is left in any table, the rows the
studio keeps are keyed by the pseudonym and the ledger still balances; signing in during the
grace period cancels it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import httpx
import sqlalchemy as sa

import playerplatform.models
from playerplatform.commerce.models import LedgerEntry
from playerplatform.kit.settings import Settings
from playerplatform.privacy import service as privacy
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.conftest import asgi_client, running_app
from tests.privacy.players import rich_player, setting_up, wait_for
from tests.support.commerce import ledger_consistent
from tests.support.platforms import steam_ticket
from tests.support.players import STRONG_PASSWORD, auth, email_register


async def tables_holding(runtime: Runtime, needle: str) -> list[str]:
    """`table.column` of every column, of every table, whose text holds `needle`."""
    found = []
    async with runtime.db.unit_of_work(write=False) as uow:
        for table in playerplatform.models.Base.metadata.sorted_tables:
            for column in table.columns:
                hits = await uow.session.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(sa.cast(column, sa.Text).contains(needle, autoescape=True))
                )
                if hits.scalar_one():
                    found.append(f"{table.name}.{column.name}")
    return found


async def test_erasure_leaves_no_personal_data_and_the_ledger_balances(
    client: httpx.AsyncClient, runtime: Runtime, emulators: dict[str, str]
) -> None:
    admin, season_id = await setting_up(client, runtime)
    friend = await rich_player(client, runtime, emulators, admin=admin, season_id=season_id)
    player = await rich_player(
        client, runtime, emulators, admin=admin, season_id=season_id, friend=friend
    )
    exported = await client.post("/api/v1/users/me/export", headers=auth(player.tokens))
    await wait_for(client, admin, exported.json()["request_id"], {"ready"})
    for needle in player.personal:
        assert await tables_holding(runtime, needle), needle  # the scan finds what is there

    asked = await client.post("/api/v1/users/me/erase", headers=auth(player.tokens))
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "scheduled"
    async with runtime.db.unit_of_work() as uow:  # the grace period ends: the job runs
        await privacy.run_erasure(uow, runtime, asked.json()["request_id"])
    done = await wait_for(client, admin, asked.json()["request_id"], {"done"})
    pseudonym = done["canonical_id"]
    assert pseudonym != player.canonical_id and pseudonym.startswith("erased_")

    for needle in player.personal:
        assert await tables_holding(runtime, needle) == [], needle
    assert await tables_holding(runtime, player.progression_marker) == []
    for needle in friend.personal:  # the friend keeps everything
        assert await tables_holding(runtime, needle), needle

    async with runtime.db.unit_of_work(write=False) as uow:
        user = (
            await uow.session.execute(sa.select(User).where(User.canonical_id == pseudonym))
        ).scalar_one()
        entries = (
            await uow.session.execute(
                sa.select(sa.func.count()).where(LedgerEntry.user_id == user.id)
            )
        ).scalar_one()
    assert user.status == "erased"
    assert entries == 2  # the grant and the spend stay, keyed by the pseudonymous account
    stored, total, newest = await ledger_consistent(runtime, user.id, player.sku_id)
    assert stored == total == newest == 17

    refused = await client.get("/api/v1/users/me", headers=auth(player.tokens))
    assert refused.status_code == 401
    login = await client.post(
        "/api/v1/auth/email/login", json={"email": player.email, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 401
    ticket, _ = await steam_ticket(emulators, player.steamid)  # the Steam account is free
    fresh = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["created"] is True
    assert fresh.json()["user"]["canonical_id"] not in (pseudonym, player.canonical_id)
    board = await client.get(f"/api/v1/leaderboards/{season_id}", params={"limit": 100})
    ranked = {e["user"]["canonical_id"]: e for e in board.json()["items"]}
    assert player.canonical_id not in ranked
    assert ranked[pseudonym]["score"] == player.score  # kept, anonymously
    assert ranked[pseudonym]["user"]["display_name"] is None
    gone = await client.get(f"/api/v1/ugc/{player.ugc_id}", headers=auth(friend.tokens))
    assert gone.status_code == 404

    audit = await client.get(
        "/api/v1/admin/audit-logs", params={"action": "privacy.erased"}, headers=auth(admin)
    )
    assert any(e["resource_id"] == pseudonym for e in audit.json()["items"])
    again = await client.get(
        "/api/v1/admin/audit-logs", params={"user": pseudonym}, headers=auth(admin)
    )
    assert {"privacy.erasure_requested", "privacy.erased"} <= {
        e["action"] for e in again.json()["items"]
    }


async def test_signing_in_during_the_grace_period_cancels_the_erasure(
    client: httpx.AsyncClient, runtime: Runtime, emulators: dict[str, str]
) -> None:
    admin, season_id = await setting_up(client, runtime)
    player = await rich_player(client, runtime, emulators, admin=admin, season_id=season_id)
    asked = await client.post("/api/v1/users/me/erase", headers=auth(player.tokens))
    assert asked.status_code == 202
    assert asked.json()["erase_at"] > asked.json()["created_at"]
    again = await client.post("/api/v1/users/me/erase", headers=auth(player.tokens))
    assert again.status_code == 401  # signed out everywhere
    mail = await client.get(
        "/api/v1/admin/mailbox", params={"to": player.email}, headers=auth(admin)
    )
    assert "Your account will be erased" in [m["subject"] for m in mail.json()["items"]]

    login = await client.post(
        "/api/v1/auth/email/login", json={"email": player.email, "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200, login.text
    async with runtime.db.unit_of_work() as uow:  # the grace period ends: the job runs
        await privacy.run_erasure(uow, runtime, asked.json()["request_id"])
    state = await wait_for(client, admin, asked.json()["request_id"], {"cancelled", "done"})
    assert state["status"] == "cancelled"
    me = await client.get("/api/v1/users/me", headers=auth(login.json()))
    assert me.status_code == 200
    assert me.json()["profile"]["display_name"] == player.display_name


async def test_a_scheduled_erasure_runs_when_its_grace_period_ends(
    client: httpx.AsyncClient,
    runtime: Runtime,
    emulators: dict[str, str],
    make_settings: Callable[..., Settings],
) -> None:
    """With no grace period, the job runs at once (the job worker, not the test, runs it)."""
    admin, _season = await setting_up(client, runtime)
    player = await email_register(client)
    async with (
        running_app(make_settings(erasure_grace_days=0)) as (app, _),
        asgi_client(app) as here,
    ):
        asked = await here.post("/api/v1/users/me/erase", headers=auth(player))
        assert asked.status_code == 202, asked.text
        done = await wait_for(client, admin, asked.json()["request_id"], {"done"})
    assert done["canonical_id"].startswith("erased_")
    assert await tables_holding(runtime, player["email"]) == []


async def test_published_ugc_can_be_kept_anonymously(
    client: httpx.AsyncClient, runtime: Runtime, emulators: dict[str, str]
) -> None:
    """With `PP_ERASURE_UGC=keep_anonymous` the player's published items stay, credited to
    the pseudonymous account, which shows no name."""
    admin, season_id = await setting_up(client, runtime)
    player = await rich_player(client, runtime, emulators, admin=admin, season_id=season_id)
    asked = await client.post("/api/v1/users/me/erase", headers=auth(player.tokens))
    keeping = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"erasure_ugc": "keep_anonymous"})
    )
    async with runtime.db.unit_of_work() as uow:
        await privacy.run_erasure(uow, keeping, asked.json()["request_id"])
    done = await wait_for(client, admin, asked.json()["request_id"], {"done"})
    item = await client.get(f"/api/v1/ugc/{player.ugc_id}")
    assert item.status_code == 200, item.text
    assert item.json()["creator"]["canonical_id"] == done["canonical_id"]
    assert item.json()["creator"]["profile"]["display_name"] is None
    for needle in player.personal:
        assert await tables_holding(runtime, needle) == [], needle
