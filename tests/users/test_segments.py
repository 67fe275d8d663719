"""Segments: the model's validation, and the two evaluators (SQL filter and per-player
predicate) agreeing on real players made through the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from playerplatform.commerce.owners import SKU_OWNERS
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.segments import Segment, matches, user_filter
from tests.support.commerce import create_sku, steam_player
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def _user_id(runtime: Runtime, player: dict[str, Any]) -> uuid.UUID:
    async with runtime.db.unit_of_work(write=False) as uow:
        return (await users.get_by_canonical(uow, player["user"]["canonical_id"])).id


async def _both_ways(runtime: Runtime, segment: Segment, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The players among `ids` in `segment`, by SQL; asserts the predicate agrees."""
    async with runtime.db.unit_of_work(write=False) as uow:
        query = sa.select(User.id).where(User.id.in_(ids), user_filter(segment, SKU_OWNERS))
        by_sql = set((await uow.session.execute(query)).scalars())
        by_predicate = {i for i in ids if await matches(uow, segment, i, SKU_OWNERS)}
    assert by_sql == by_predicate
    return by_sql


@pytest.fixture
async def cast_of_players(
    client: httpx.AsyncClient, runtime: Runtime, emulators: dict[str, str]
) -> dict[str, Any]:
    """A French device player, a German Steam player owning a SKU, a moderator without a
    country, all created now."""
    admin = await staff_login(client, runtime)
    sku = await create_sku(client, admin)
    french, german, moderator = (
        await device_login(client),
        await steam_player(client, emulators),
        await device_login(client),
    )
    for player, country in ((french, "fr"), (german, "DE")):
        patched = await client.patch(
            "/api/v1/users/me", json={"country": country}, headers=auth(player)
        )
        assert patched.status_code == 200, patched.text
    canonical = moderator["user"]["canonical_id"]
    roles = await client.put(
        f"/api/v1/admin/users/{canonical}/roles",
        json={"roles": ["player", "moderator"]},
        headers=auth(admin),
    )
    assert roles.status_code == 200, roles.text
    granted = await client.post(
        f"/api/v1/admin/users/{german['user']['canonical_id']}/grants",
        json={"sku_id": sku["sku_id"], "reason": "segment test"},
        headers=auth(admin),
    )
    assert granted.status_code == 200, granted.text
    return {
        "sku": sku["sku_id"],
        "french": await _user_id(runtime, french),
        "german": await _user_id(runtime, german),
        "moderator": await _user_id(runtime, moderator),
    }


async def test_each_criterion_selects_its_players(
    runtime: Runtime, cast_of_players: dict[str, Any]
) -> None:
    c = cast_of_players
    everyone = [c["french"], c["german"], c["moderator"]]
    cases: list[tuple[dict[str, Any], set[uuid.UUID]]] = [
        ({}, set(everyone)),
        ({"countries": ["FR"]}, {c["french"]}),
        ({"countries": ["fr", "DE"]}, {c["french"], c["german"]}),
        ({"platforms": ["steam"]}, {c["german"]}),
        ({"platforms": ["device", "epic"]}, {c["french"], c["moderator"]}),
        ({"roles": ["moderator"]}, {c["moderator"]}),
        ({"roles": ["admin"]}, set()),
        ({"has_sku": c["sku"]}, {c["german"]}),
        ({"has_sku": "no-such-sku"}, set()),
        ({"countries": ["DE"], "platforms": ["device"]}, set()),
        ({"countries": ["DE"], "has_sku": c["sku"], "roles": ["player"]}, {c["german"]}),
    ]
    for fields, expected in cases:
        assert await _both_ways(runtime, Segment.model_validate(fields), everyone) == expected, (
            fields
        )


async def test_account_age_bounds(runtime: Runtime, cast_of_players: dict[str, Any]) -> None:
    c = cast_of_players
    everyone = [c["french"], c["german"], c["moderator"]]
    now = dt.datetime.now(dt.UTC)
    hour = dt.timedelta(hours=1)
    recent = Segment(created_after=now - hour)
    old = Segment(created_before=now - hour)
    future = Segment(created_after=now + hour)
    assert await _both_ways(runtime, recent, everyone) == set(everyone)
    assert await _both_ways(runtime, old, everyone) == set()
    assert await _both_ways(runtime, future, everyone) == set()
    assert recent.admits_new_players and future.admits_new_players
    assert not old.admits_new_players


async def test_an_unknown_user_matches_nothing(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work(write=False) as uow:
        for segment in (Segment(), Segment(countries=["FR"])):
            assert not await matches(uow, segment, uuid.uuid4(), SKU_OWNERS)


@pytest.mark.parametrize(
    "fields",
    [
        {"countries": []},
        {"countries": ["XX"]},
        {"countries": ["FRA"]},
        {"platforms": ["xbox"]},
        {"roles": ["owner"]},
        {"has_sku": "bad sku!"},
        {"has_sku": ""},
        {"created_after": "yesterday"},
        {"created_after": "2030-01-01T00:00:00"},
        {"created_after": "2030-01-02T00:00:00Z", "created_before": "2030-01-01T00:00:00Z"},
        {"audience": "everyone"},
        {"countries": "FR"},
    ],
)
def test_malformed_segments_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Segment.model_validate(fields)


def test_an_empty_segment_is_everyone() -> None:
    assert Segment().is_everyone
    assert not Segment(roles=["player"]).is_everyone
    parsed = Segment.model_validate(
        {"countries": ["fr"], "created_after": "2030-01-01T01:00:00+01:00"}
    )
    assert parsed.countries == ["FR"]
    assert parsed.created_after == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
