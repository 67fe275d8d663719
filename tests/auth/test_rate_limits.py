"""Auth routes are limited per client IP, answer 429 with the headers, and recover."""

from __future__ import annotations

import asyncio

from tests.support.players import device_login


async def test_auth_routes_answer_429_with_headers_and_recover(make_client: object) -> None:
    async with make_client(rate_limit_auth="3/second", client_ip="203.0.113.9") as limited:  # type: ignore[operator]
        device = "rate-limited-device-01"
        responses = [
            await limited.post("/api/v1/auth/device/login", json={"device_id": device})
            for _ in range(4)
        ]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert responses[0].headers["RateLimit-Limit"] == "3"
        assert int(responses[0].headers["RateLimit-Remaining"]) == 2
        limited_response = responses[3]
        assert limited_response.json()["code"] == "rate_limited"
        assert limited_response.headers["content-type"] == "application/problem+json"
        assert int(limited_response.headers["Retry-After"]) >= 1
        assert "RateLimit-Reset" in limited_response.headers
        await asyncio.sleep(2.1)
        assert (await device_login(limited, device))["created"] is False


async def test_reads_are_limited_per_player_not_per_address(make_client: object) -> None:
    async with make_client(rate_limit_read="3/second") as limited:  # type: ignore[operator]
        first = await device_login(limited)
        second = await device_login(limited)
        headers = {"Authorization": f"Bearer {first['access_token']}"}
        responses = [await limited.get("/api/v1/users/me", headers=headers) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers.get("RateLimit-Remaining") for r in responses[:3]] == ["2", "1", "0"]
        assert responses[3].json()["code"] == "rate_limited"
        # Another player on the same address has a budget of their own.
        other = {"Authorization": f"Bearer {second['access_token']}"}
        assert (await limited.get("/api/v1/users/me", headers=other)).status_code == 200
        await asyncio.sleep(2.1)
        assert (await limited.get("/api/v1/users/me", headers=headers)).status_code == 200
