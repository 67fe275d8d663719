"""The verified-token cache: a token let in before is let in again on the same state without repeating the checks, and
never on a changed one (ban, role change, logout) or after it expires."""

from __future__ import annotations

import time

import httpx
import pytest

from playerplatform.auth.deps import Principal, VerifiedToken, VerifiedTokens, authenticate
from playerplatform.kit.errors import AccountBanned, InvalidToken
from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def test_a_token_let_in_is_let_in_again_as_the_same_caller(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await device_login(client)
    token = player["access_token"]
    first = await authenticate(runtime, token, route_class="read")
    assert runtime.verified_tokens.recall(token) is not None
    again = await authenticate(runtime, token, route_class="read")
    assert again.principal is first.principal
    assert first.principal is not None
    assert first.principal.subject == player["user"]["canonical_id"]
    assert again.rate_headers is not None  # still counted against the rate limit


async def test_a_ban_or_a_logout_is_not_served_from_a_verified_token(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    banned, logged_out = await device_login(client), await device_login(client)
    for player in (banned, logged_out):
        await authenticate(runtime, player["access_token"])
        assert runtime.verified_tokens.recall(player["access_token"]) is not None

    response = await client.post(
        f"/api/v1/admin/users/{banned['user']['canonical_id']}/ban",
        headers=auth(moderator),
        json={"reason": "cheating in ranked"},
    )
    assert response.status_code == 200, response.text
    with pytest.raises(AccountBanned):
        await authenticate(runtime, banned["access_token"])

    response = await client.post("/api/v1/auth/logout", headers=auth(logged_out), json={})
    assert response.status_code == 204, response.text
    with pytest.raises(InvalidToken):
        await authenticate(runtime, logged_out["access_token"])


async def test_a_role_change_gives_a_new_caller(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    moderator = await staff_login(client, runtime, "moderator")
    before = await authenticate(runtime, moderator["access_token"])
    assert before.principal is not None and before.principal.has_role("moderator")

    response = await client.put(
        f"/api/v1/admin/users/{moderator['user']['canonical_id']}/roles",
        headers=auth(admin),
        json={"roles": ["player"]},
    )
    assert response.status_code == 200, response.text
    after = await authenticate(runtime, moderator["access_token"])
    assert after.principal is not None
    assert after.principal is not before.principal
    assert not after.principal.has_role("moderator")


def _a_verified_token(expires: float) -> VerifiedToken:
    principal = Principal(kind="user", subject="someone", session_id="s")
    return VerifiedToken(
        expires=expires,
        principal=principal,
        rate_subject="user:someone",
        keys=("auth:{someone}:user", "auth:{someone}:sess:s"),
        user_raw="{}",
        session_raw="active",
    )


def test_an_expired_token_is_forgotten() -> None:
    cache = VerifiedTokens()
    cache.remember("live", _a_verified_token(time.time() + 60))
    cache.remember("expired", _a_verified_token(time.time() - 1))
    assert cache.recall("live") is not None
    assert cache.recall("expired") is None
    assert "expired" not in cache._by_token


def test_the_cache_keeps_at_most_its_size_dropping_the_oldest() -> None:
    cache = VerifiedTokens(size=3)
    for n in range(4):
        cache.remember(f"token-{n}", _a_verified_token(time.time() + 60))
    assert cache.recall("token-0") is None
    assert all(cache.recall(f"token-{n}") is not None for n in range(1, 4))
