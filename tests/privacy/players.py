"""Players with data in every domain, made through the public API, for export and erasure
tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from playerplatform.runtime import Runtime
from tests.support.commerce import create_sku, spend
from tests.support.db import latest_mail, token_from_mail
from tests.support.leaderboards import Boards
from tests.support.platforms import steam_ticket
from tests.support.players import auth, email_register, plain_tag
from tests.support.staff import staff_login
from tests.support.ugc import World


@dataclass
class RichPlayer:
    """A player and the personal strings and values that are theirs alone."""

    tokens: dict[str, Any]
    email: str
    display_name: str
    steamid: str
    progression_marker: str
    score: float
    ugc_id: str
    sku_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def canonical_id(self) -> str:
        return str(self.tokens["user"]["canonical_id"])

    @property
    def personal(self) -> list[str]:
        return [self.email, self.display_name, self.steamid]


async def rich_player(
    client: httpx.AsyncClient,
    runtime: Runtime,
    emulators: dict[str, str],
    *,
    admin: dict[str, Any],
    season_id: str,
    friend: RichPlayer | None = None,
) -> RichPlayer:
    """Email account with Steam linked, a profile, progression, a friend (when given), a
    granted and spent currency, a score, a published UGC item, a report on the friend's item,
    an experiment exposure and audit rows about them."""
    tokens = await email_register(client)
    headers = auth(tokens)
    # Only a verified address may have other identities joined to it.
    token = token_from_mail(await latest_mail(runtime, tokens["email"], "verify_email"))
    verified = await client.post("/api/v1/auth/email/verify", json={"token": token})
    assert verified.status_code == 200, verified.text
    ticket, steamid = await steam_ticket(emulators)
    linked = await client.post("/api/v1/auth/links/steam", json={"ticket": ticket}, headers=headers)
    assert linked.status_code == 200, linked.text
    name = f"Player{plain_tag(8)}"
    patched = await client.patch(
        "/api/v1/users/me", json={"display_name": name, "country": "DE"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    marker = f"save-{secrets.token_hex(6)}"
    saved = await client.put(
        "/api/v1/users/me/progression",
        json={"data": {"marker": marker, "level": 7}},
        headers={**headers, "If-Match": '"0"'},
    )
    assert saved.status_code == 200, saved.text
    if friend is not None:
        await client.put(f"/api/v1/users/me/friends/{friend.canonical_id}", headers=headers)
        accepted = await client.put(
            f"/api/v1/users/me/friends/{tokens['user']['canonical_id']}",
            headers=auth(friend.tokens),
        )
        assert accepted.status_code == 200, accepted.text
    gems = await create_sku(client, admin, type="consumable", quantity=10, metadata={})
    granted = await client.post(
        f"/api/v1/admin/users/{tokens['user']['canonical_id']}/grants",
        json={"sku_id": gems["sku_id"], "quantity": 2, "reason": "welcome gift"},
        headers={**auth(admin), "Idempotency-Key": secrets.token_hex(8)},
    )
    assert granted.status_code == 200, granted.text
    assert (await spend(client, tokens, gems["sku_id"], 3)).status_code == 200
    score = float(1000 + secrets.randbelow(10**6))
    scored = await client.post(
        f"/api/v1/leaderboards/{season_id}/scores", json={"score": score}, headers=headers
    )
    assert scored.status_code == 200, scored.text
    world = World(store="local", client=client, runtime=runtime)
    ugc_id = await _published(world, headers, admin)
    if friend is not None:
        reported = await client.post(
            f"/api/v1/ugc/{friend.ugc_id}/reports",
            json={"reason": "offensive", "description": f"reported by {name}"},
            headers=headers,
        )
        assert reported.status_code == 201, reported.text
    config = await client.get("/api/v1/config", headers=headers)
    assert config.status_code == 200
    return RichPlayer(
        tokens=tokens,
        email=tokens["email"],
        display_name=name,
        steamid=steamid,
        progression_marker=marker,
        score=score,
        ugc_id=ugc_id,
        sku_id=gems["sku_id"],
    )


async def _published(world: World, headers: dict[str, str], admin: dict[str, Any]) -> str:
    """An item uploaded, scanned (by whichever worker gets there first) and approved."""
    data = f"notes {secrets.token_hex(8)}".encode()
    created = await world.draft(headers, data)
    put = await world.put_file(created["upload"], data)
    assert put.status_code in (200, 204), put.text
    ugc_id = str(created["ugc"]["ugc_id"])
    assert (await world.complete(headers, ugc_id)).status_code == 202
    deadline = time.monotonic() + 20
    while (await world.item(headers, ugc_id))["status"] != "pending_review":
        assert time.monotonic() < deadline, "the scan did not finish"
        await asyncio.sleep(0.1)
    decided = await world.decide(auth(admin), ugc_id, "approve")
    assert decided.status_code == 200, decided.text
    return ugc_id


async def setting_up(client: httpx.AsyncClient, runtime: Runtime) -> tuple[dict[str, Any], str]:
    """An admin, a season open now and a running experiment."""
    admin = await staff_login(client, runtime)
    boards = Boards(client, runtime, admin)
    season = await boards.season()
    now = dt.datetime.now(dt.UTC)
    experiment = await client.put(
        f"/api/v1/admin/experiments/privacy-{secrets.token_hex(3)}",
        json={
            "variants": [{"name": "only", "weight": 1, "values": {}}],
            "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (now + dt.timedelta(hours=1)).isoformat(),
        },
        headers=auth(admin),
    )
    assert experiment.status_code == 200, experiment.text
    return admin, str(season["season_id"])


async def wait_for(
    client: httpx.AsyncClient, admin: dict[str, Any], request_id: str, statuses: set[str]
) -> dict[str, Any]:
    """The request as staff see it, once its status is one of `statuses`."""
    deadline = time.monotonic() + 20
    while True:
        listed = await client.get("/api/v1/admin/privacy-requests?limit=100", headers=auth(admin))
        assert listed.status_code == 200, listed.text
        found = [r for r in listed.json() if r["request_id"] == request_id]
        if found and found[0]["status"] in statuses:
            return dict(found[0])
        assert time.monotonic() < deadline, f"request {request_id} stayed {found}"
        await asyncio.sleep(0.1)
