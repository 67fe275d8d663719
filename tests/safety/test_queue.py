"""One moderation queue over UGC reviews, report groups, appeals and feedback; a moderator
takes an item and two moderators never hold the same one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.safety import report
from tests.support.ugc import EICAR, PNG, World, zip_of


async def _queue(world: World, staff: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await world.client.get(
        "/api/v1/moderation/queue", params={"limit": 100, **params}, headers=staff
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _reported_item(world: World) -> str:
    target = await world.canonical_id(await world.player())
    filed = await report(world.client, await world.player(), "player", target, "spam")
    assert filed.status_code == 201, filed.text
    staff = await world.moderator()
    (item,) = [
        i
        for i in await _queue(world, staff, type="report")
        if i["subject"]["target"]["id"] == target
    ]
    return str(item["item_id"])


async def test_concurrent_takes_never_hand_one_item_to_two_moderators(world: World) -> None:
    moderators = [await world.moderator() for _ in range(4)]
    for _ in range(5):
        item_id = await _reported_item(world)
        answers = await asyncio.gather(
            *(
                world.client.post(f"/api/v1/moderation/queue/{item_id}/assign", headers=m)
                for m in moderators
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409, 409, 409], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert all(a.json()["code"] == "assigned" for a in answers if a.status_code == 409)
        holder = moderators[[a.status_code for a in answers].index(200)]
        again = await world.client.post(
            f"/api/v1/moderation/queue/{item_id}/assign", headers=holder
        )
        assert again.status_code == 200 and again.json()["assignee"] == winner["assignee"]


async def test_queue_filters_by_type_assignee_and_age(world: World) -> None:
    staff = await world.moderator()
    item_id = await _reported_item(world)
    taken = await world.client.post(f"/api/v1/moderation/queue/{item_id}/assign", headers=staff)
    me = taken.json()["assignee"]
    mine = await _queue(world, staff, assignee="me")
    assert item_id in [i["item_id"] for i in mine] and {i["assignee"] for i in mine} == {me}
    assert item_id not in [i["item_id"] for i in await _queue(world, staff, assignee="none")]
    assert item_id not in [i["item_id"] for i in await _queue(world, staff, type="feedback")]
    assert item_id not in [i["item_id"] for i in await _queue(world, staff, older_than=3600)]
    everything = await _queue(world, staff)
    priorities = [i["priority"] for i in everything]
    assert priorities == sorted(priorities, reverse=True)
    assert {"item_id", "type", "status", "priority", "age_seconds", "assignee", "subject"} == set(
        everything[0]
    )


async def test_ugc_reviews_are_in_the_queue_with_their_reports(world: World) -> None:
    creator = await world.player()
    item = await world.upload(creator, b"waiting for a moderator")
    assert item["status"] == "pending_review"
    staff = await world.moderator()
    reviews = await _queue(world, staff, type="ugc_review")
    (found,) = [i for i in reviews if i["subject"]["ugc_id"] == item["ugc_id"]]
    subject = found["subject"]
    assert subject["content_type"] == "text/plain" and subject["size"] == item["size"]
    assert subject["reports"] == {} and subject["report_count"] == 0
    # Decided through UGC's route: it leaves the queue at the next listing.
    await world.decide(staff, item["ugc_id"], "approve")
    assert item["ugc_id"] not in str(await _queue(world, staff, type="ugc_review"))


async def _review_preview(world: World, data: bytes, **kwargs: Any) -> dict[str, Any]:
    item = await world.upload(await world.player(), data, **kwargs)
    assert item["status"] == "pending_review", item
    staff = await world.moderator()
    (found,) = [
        i
        for i in await _queue(world, staff, type="ugc_review")
        if i["subject"]["ugc_id"] == item["ugc_id"]
    ]
    response = await world.client.get(f"/api/v1/moderation/queue/{found['item_id']}", headers=staff)
    assert response.status_code == 200, response.text
    assert response.json()["item_id"] == found["item_id"]
    return dict(response.json()["preview"])


async def test_previews_show_a_text_an_image_and_an_archives_files(world: World) -> None:
    text = await _review_preview(
        world, b'{"level": 3, "note": "hi"}', content_type="application/json", filename="level.json"
    )
    assert text == {"kind": "text", "text": '{"level": 3, "note": "hi"}', "truncated": False}

    image = await _review_preview(
        world, PNG, type="image", content_type="image/png", filename="shot.png"
    )
    assert image["kind"] == "image"
    assert (await world.get_signed(image["url"])).content == PNG

    archive = zip_of({"maps/one.map": b"1" * 10, "readme.txt": b"hello"})
    files = await _review_preview(
        world, archive, type="mod", content_type="application/zip", filename="mod.zip"
    )
    assert files["kind"] == "files" and files["size"] == len(archive)
    assert sorted((f["name"], f["size"]) for f in files["files"]) == [
        ("maps/one.map", 10),
        ("readme.txt", 5),
    ]


async def test_an_infected_file_is_never_previewed(world: World) -> None:
    creator = await world.player()
    item = await world.upload(creator, EICAR, filename="eicar.txt")
    assert item["status"] == "removed"
    appealed = await world.client.post(
        "/api/v1/appeals",
        json={"target": {"type": "ugc", "id": item["ugc_id"]}, "message": "false positive"},
        headers=creator,
    )
    assert appealed.status_code == 201, appealed.text
    staff = await world.moderator()
    (found,) = [
        i
        for i in await _queue(world, staff, type="appeal")
        if i["subject"].get("appeal_id") == appealed.json()["appeal_id"]
    ]
    detail = await world.client.get(f"/api/v1/moderation/queue/{found['item_id']}", headers=staff)
    assert detail.json()["preview"] == {"kind": "none", "reason": "the file is infected"}
    assert "url" not in detail.text


async def test_report_groups_have_no_preview(world: World) -> None:
    item_id = await _reported_item(world)
    response = await world.client.get(
        f"/api/v1/moderation/queue/{item_id}", headers=await world.moderator()
    )
    assert response.status_code == 200 and response.json()["preview"] is None


async def test_taking_an_unknown_item_is_404(world: World) -> None:
    response = await world.client.post(
        "/api/v1/moderation/queue/q0000/assign", headers=await world.moderator()
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"type": "everything"},
        {"status": "limbo"},
        {"older_than": "0"},
        {"older_than": "yesterday"},
        {"assignee": "../x"},
        {"cursor": "garbage!"},
    ],
)
async def test_bad_queue_filters_are_422(world: World, params: dict[str, str]) -> None:
    response = await world.client.get(
        "/api/v1/moderation/queue", params=params, headers=await world.moderator()
    )
    assert response.status_code == 422, response.text


async def test_work_another_moderator_holds_cannot_be_decided_by_others(world: World) -> None:
    item_id = await _reported_item(world)
    holder, other = await world.moderator(), await world.moderator()
    taken = await world.client.post(f"/api/v1/moderation/queue/{item_id}/assign", headers=holder)
    group_id = taken.json()["subject"]["group_id"]
    path = f"/api/v1/moderation/report-groups/{group_id}/decision"
    refused = await world.client.post(path, json={"action": "dismiss"}, headers=other)
    assert refused.status_code == 409 and refused.json()["code"] == "assigned"
    decided = await world.client.post(path, json={"action": "dismiss"}, headers=holder)
    assert decided.status_code == 200, decided.text


async def test_a_review_item_shows_new_reports_at_the_next_listing(world: World) -> None:
    creator = await world.player()
    ugc_id = await world.published(creator, b"listed, then reported")
    staff = await world.moderator()
    counts = []
    for _ in range(2):
        filed = await world.client.post(
            f"/api/v1/ugc/{ugc_id}/reports",
            json={"reason": "spam"},
            headers=await world.seasoned_player(),
        )
        assert filed.status_code == 201, filed.text
        (found,) = [
            i
            for i in await _queue(world, staff, type="ugc_review")
            if i["subject"]["ugc_id"] == ugc_id
        ]
        counts.append((found["item_id"], found["subject"]["reports"]))
    assert counts[0][1] == {"spam": 1} and counts[1][1] == {"spam": 2}
    assert counts[0][0] == counts[1][0]  # the same item, brought up to date
