"""Account merge: the other account's items, ratings, downloads, reports and appeals move to
the survivor; where both did the same, the survivor's stands."""

from __future__ import annotations

import sqlalchemy as sa

from playerplatform.ugc.models import Ugc, UgcRating, UgcReport
from tests.support.db import latest_mail, scalar, token_from_mail
from tests.support.players import auth, device_login, email_register
from tests.support.ugc import World


async def test_merge_moves_items_ratings_and_reports(local: World) -> None:
    client = local.client
    old = await email_register(client)
    old_h = auth(old)
    guest = await device_login(client)
    guest_h = auth(guest)
    creator = await local.player()
    theirs = await local.published(creator, b"someone else's item")
    both_rated = await local.published(creator, b"rated by both")

    own_item = await local.published(old_h, b"made by the old account", visibility="private")
    await client.put(f"/api/v1/ugc/{theirs}/rating", json={"value": 5}, headers=old_h)
    await client.put(f"/api/v1/ugc/{both_rated}/rating", json={"value": 1}, headers=old_h)
    await client.put(f"/api/v1/ugc/{both_rated}/rating", json={"value": 4}, headers=guest_h)
    for headers in (old_h, guest_h):  # two reporters, on their own accounts
        await client.post(f"/api/v1/ugc/{theirs}/reports", json={"reason": "spam"}, headers=headers)
    assert (await local.item(creator, both_rated))["rating"] == {"average": 2.5, "count": 2}
    assert (await client.get(f"/api/v1/ugc/{own_item}", headers=guest_h)).status_code == 404

    # Only a verified address's account can be merged (its owner is who registered it).
    token = token_from_mail(await latest_mail(local.runtime, old["email"], "verify_email"))
    verified = await client.post("/api/v1/auth/email/verify", json={"token": token})
    assert verified.status_code == 200
    conflict = await client.post(
        "/api/v1/auth/links/email",
        json={"email": old["email"], "password": old["password"]},
        headers=guest_h,
    )
    assert conflict.status_code == 409, conflict.text
    merged = await client.post(
        "/api/v1/auth/merge", json={"merge_token": conflict.json()["merge_token"]}, headers=guest_h
    )
    assert merged.status_code == 200, merged.text

    moved = await client.get(f"/api/v1/ugc/{own_item}", headers=guest_h)
    assert moved.status_code == 200
    assert moved.json()["creator"]["canonical_id"] == guest["user"]["canonical_id"]
    mine = await client.get("/api/v1/ugc/mine", headers=guest_h)
    assert own_item in [i["ugc_id"] for i in mine.json()["items"]]
    # The survivor's rating of the item both rated stands; the other one is dropped.
    assert (await local.item(creator, both_rated))["rating"] == {"average": 4.0, "count": 1}
    assert (await local.item(creator, theirs))["rating"] == {"average": 5.0, "count": 1}
    changed = await client.put(
        f"/api/v1/ugc/{both_rated}/rating", json={"value": 3}, headers=guest_h
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["rating"] == {"average": 3.0, "count": 1}
    # Two open reports by what is now one player: one stays open.
    staff = await local.moderator()
    reports = await client.get("/api/v1/moderation/reports?limit=100", headers=staff)
    open_on_theirs = [r for r in reports.json()["items"] if r["ugc_id"] == theirs]
    assert [r["reporter"] for r in open_on_theirs] == [guest["user"]["canonical_id"]]


async def test_after_a_merge_no_creator_rates_or_reports_their_own_item(local: World) -> None:
    client = local.client
    survivor = await device_login(client)
    other_device = "merged-away-" + survivor["device_id"]
    other = await device_login(client, other_device)
    survivor_h, other_h = auth(survivor), auth(other)
    survivors_item = await local.published(survivor_h, b"made by the survivor")
    others_item = await local.published(other_h, b"made by the merged account")
    fan = await local.player()
    # Each account rated the other's item; a third player rated both.
    for item, headers, value in (
        (survivors_item, other_h, 5),
        (others_item, survivor_h, 4),
        (survivors_item, fan, 2),
        (others_item, fan, 3),
    ):
        rated = await client.put(
            f"/api/v1/ugc/{item}/rating", json={"value": value}, headers=headers
        )
        assert rated.status_code == 200, rated.text
    reported = await client.post(
        f"/api/v1/ugc/{survivors_item}/reports", json={"reason": "spam"}, headers=other_h
    )
    assert reported.status_code == 201, reported.text

    conflict = await client.post(
        "/api/v1/auth/links/device", json={"device_id": other_device}, headers=survivor_h
    )
    assert conflict.status_code == 409, conflict.text
    merged = await client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=survivor_h,
    )
    assert merged.status_code == 200, merged.text

    # Both items are the survivor's now, and only the third player's ratings count.
    assert (await local.item(fan, survivors_item))["rating"] == {"average": 2.0, "count": 1}
    assert (await local.item(fan, others_item))["rating"] == {"average": 3.0, "count": 1}
    self_ratings = await scalar(
        local.runtime,
        sa.select(sa.func.count())
        .select_from(UgcRating)
        .join(Ugc, Ugc.id == UgcRating.ugc_id)
        .where(UgcRating.user_id == Ugc.creator_id),
    )
    assert self_ratings == 0
    self_reports = await scalar(
        local.runtime,
        sa.select(sa.func.count())
        .select_from(UgcReport)
        .join(Ugc, Ugc.id == UgcReport.ugc_id)
        .where(UgcReport.reporter_id == Ugc.creator_id, UgcReport.status == "open"),
    )
    assert self_reports == 0
