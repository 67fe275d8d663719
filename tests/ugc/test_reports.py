"""Reports are weighted by who files them: fresh guest accounts cannot bury an item, a
reported item stays shown until a moderator or enough weight decides, and reporting is
limited per account and per client IP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, running_app
from tests.support.ugc import World


async def _report(world: World, ugc_id: str, headers: dict[str, str]) -> Any:
    return await world.client.post(
        f"/api/v1/ugc/{ugc_id}/reports", json={"reason": "offensive"}, headers=headers
    )


async def _open_reports(world: World, staff: dict[str, str], ugc_id: str) -> list[dict[str, Any]]:
    listed = await world.client.get("/api/v1/moderation/reports?limit=100", headers=staff)
    return [r for r in listed.json()["items"] if r["ugc_id"] == ugc_id]


async def _flagged_queue(world: World, staff: dict[str, str]) -> list[str]:
    queue = await world.client.get("/api/v1/moderation/ugc?status=flagged&limit=100", headers=staff)
    return [i["ugc_id"] for i in queue.json()["items"]]


async def test_fresh_guest_accounts_cannot_hide_a_published_item(local: World) -> None:
    creator = await local.seasoned_player()
    ugc_id = await local.published(creator, b"a map some people dislike")
    for _ in range(5):  # five throwaway guests, with a threshold of 2
        response = await _report(local, ugc_id, await local.player())
        assert response.status_code == 201, response.text
        assert "weight" not in response.json() or response.json()["weight"] is None
    public = await local.client.get(f"/api/v1/ugc/{ugc_id}")
    assert public.status_code == 200 and public.json()["status"] == "published"
    listed = await local.client.get(
        "/api/v1/ugc", params={"creator": await local.canonical_id(creator)}
    )
    assert ugc_id in [i["ugc_id"] for i in listed.json()["items"]]

    # Moderators see it waiting for them, with what each report weighs.
    staff = await local.moderator()
    assert ugc_id in await _flagged_queue(local, staff)
    weights = [r["weight"] for r in await _open_reports(local, staff, ugc_id)]
    assert len(weights) == 5 and all(w == pytest.approx(0.025) for w in weights)
    # Approving a reported item dismisses its reports; it leaves the queue.
    approved = await local.decide(staff, ugc_id, "approve")
    assert approved.status_code == 200 and approved.json()["status"] == "published"
    assert await _open_reports(local, staff, ugc_id) == []
    assert ugc_id not in await _flagged_queue(local, staff)


async def test_established_reporters_hide_an_item_until_a_moderator_decides(local: World) -> None:
    creator = await local.seasoned_player()
    ugc_id = await local.published(creator, b"something really offensive")
    assert (await _report(local, ugc_id, await local.seasoned_player())).status_code == 201
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 200  # 1 of 2
    assert (await _report(local, ugc_id, await local.seasoned_player())).status_code == 201
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 404
    assert (await local.item(creator, ugc_id))["status"] == "flagged"


async def test_a_reporters_weight_follows_age_verification_and_accuracy(local: World) -> None:
    staff = await local.moderator()
    creator = await local.seasoned_player()
    accurate, careless = await local.seasoned_player(), await local.seasoned_player()
    for reporter, action in ((accurate, "uphold"), (careless, "dismiss")):
        for n in range(2):
            ugc_id = await local.published(creator, f"{action} {n}".encode())
            report = await _report(local, ugc_id, reporter)
            decided = await local.client.post(
                f"/api/v1/moderation/reports/{report.json()['report_id']}/decision",
                json={"action": action},
                headers=staff,
            )
            assert decided.status_code == 200, decided.text
    target = await local.published(creator, b"judged by everyone")
    reporters = {  # in this order, the item is hidden by the last report only
        "unverified": await local.seasoned_player(verified=False),  # guests' factor
        "week_old": await local.seasoned_player(days=7.5),  # 7.5 / 30 days
        "careless": careless,  # 2 dismissed: 2 * 1/4
        "accurate": accurate,  # 2 upheld: 2 * 3/4
    }
    expected = {"accurate": 1.5, "careless": 0.5, "unverified": 0.25, "week_old": 0.25}
    by_reporter = {}
    for label, headers in reporters.items():
        by_reporter[await local.canonical_id(headers)] = label
        assert (await _report(local, target, headers)).status_code == 201
    weights = {
        by_reporter[r["reporter"]]: r["weight"] for r in await _open_reports(local, staff, target)
    }
    assert weights == pytest.approx(expected, abs=0.01)
    # 1.5 + 0.5 + 0.25 + 0.25 = 2.5: past the test threshold of 2, so hidden.
    assert (await local.client.get(f"/api/v1/ugc/{target}")).status_code == 404


@pytest.fixture
async def limited(ugc_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    settings = ugc_settings(ugc_report_rate_account="2/hour", ugc_report_rate_ip="4/hour")
    async with running_app(settings) as (app, runtime), asgi_client(app, "10.20.30.40") as client:
        yield World(store="local", client=client, runtime=runtime)


async def test_reports_are_limited_per_account_and_per_ip(limited: World) -> None:
    creator = await limited.seasoned_player()
    items = [await limited.published(creator, f"item {n}".encode()) for n in range(4)]
    first = await limited.player()
    assert [(await _report(limited, i, first)).status_code for i in items[:2]] == [201, 201]
    refused = await _report(limited, items[2], first)
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    # Another account from the same address: the address has two reports left.
    second = await limited.player()
    assert [(await _report(limited, i, second)).status_code for i in items[:3]] == [201, 201, 429]
