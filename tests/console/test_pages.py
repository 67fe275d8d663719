"""One test per console page: signed in, the page without data and with it, its actions
performed, no browser console error, and no empty cell where the API has data."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Locator

from tests.console.conftest import Console, filled
from tests.support.commerce import buy, create_sku, steam_player
from tests.support.ugc import PNG, sha256, zip_of

pytestmark = pytest.mark.browser

EMPTY_NOTES = {
    "moderation": "#moderation-empty",
    "catalog": "#catalog-empty",
    "seasons": "#seasons-empty",
    "mailbox": "#mailbox-empty",
}


async def test_pages_without_data_say_so(console: Console) -> None:
    for view, note in EMPTY_NOTES.items():
        await console.open(view)
        await console.page.wait_for_selector(f"{note}:not([hidden])")
        assert await console.cells(note.replace("-empty", "-rows").lstrip("#")) == [], view
    await console.open("moderation")
    for kind in ("ugc_review", "report", "appeal", "feedback"):
        await console.page.select_option("#moderation-filters select[name=type]", kind)
        await console.page.wait_for_selector("#moderation-empty:not([hidden])")
    await console.open("players")
    await console.page.fill("#players-search input[name=q]", "nobody-by-this-name")
    await console.page.click("#players-search button[type=submit]")
    await console.page.wait_for_selector("#players-empty:not([hidden])")
    await console.open("audit")
    await console.page.fill("#audit-filters input[name=action]", "no.such.action")
    await console.page.press("#audit-filters input[name=action]", "Enter")
    await console.page.wait_for_selector("#audit-empty:not([hidden])")
    await console.open("overview")
    assert await console.banner() == ""


async def _upload_text(
    console: Console,
    player: dict,
    name: str,
    text: bytes,
    *,
    type: str = "text",
    content_type: str = "text/plain",
    filename: str = "notes.txt",
) -> str:
    created = await console.http.post(
        "/api/v1/ugc",
        headers=player["headers"],
        json={
            "type": type,
            "name": name,
            "file": {
                "filename": filename,
                "size": len(text),
                "content_type": content_type,
                "sha256": sha256(text),
            },
        },
    )
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    put = await console.http.put(upload["url"], content=text, headers=upload["headers"])
    assert put.status_code in (200, 204), put.text
    ugc_id = str(created.json()["ugc"]["ugc_id"])
    done = await console.http.post(f"/api/v1/ugc/{ugc_id}/complete", headers=player["headers"])
    assert done.status_code == 202, done.text
    return ugc_id


async def _wait_status(console: Console, ugc_id: str, status: str) -> None:
    for _ in range(200):
        item = (await console.http.get(f"/api/v1/ugc/{ugc_id}", headers=console.admin)).json()
        if item["status"] == status:
            return
        await console.page.wait_for_timeout(50)
    raise AssertionError(item)


async def test_moderation_queue_shows_what_is_under_review_and_decides_it(
    console: Console,
) -> None:
    creator = await console.player("Harbour Builder")
    review = await _upload_text(console, creator, "Harbour notes", b"Two capture points.\n")
    await _wait_status(console, review, "pending_review")

    # One queue: the item waiting for review, with its kind, priority, age and what it is.
    await console.open("moderation")
    await console.page.wait_for_selector(f"#moderation-rows tr:has-text('{review}')")
    rows = await console.cells("moderation-rows")
    (row,) = [r for r in rows if review in r[5]]
    filled([row], [0, 1, 2, 3, 5])
    assert row[1] == "ugc_review", row
    # Opened, it shows the content under review, then a decision publishes it.
    await console.page.click(f"#moderation-rows tr.expandable:has-text('{review}') td >> nth=0")
    detail = console.page.locator("#moderation-rows tr.detail-row:not([hidden])")
    await detail.locator("pre.preview").wait_for()
    assert "Two capture points." in await detail.locator("pre.preview").inner_text()
    await detail.locator("button", has_text="approve").click()
    await console.page.wait_for_selector("#banner.banner-ok")
    await _wait_status(console, review, "published")


async def test_players_search_ban_and_a_grant_that_says_what_it_gives(console: Console) -> None:
    player = await console.player("Grace Hopper")
    sku = await console.http.post(
        "/api/v1/admin/skus",
        json={"sku_id": "gems", "type": "consumable", "name": "Gems", "quantity": 100},
        headers=console.admin,
    )
    assert sku.status_code == 201, sku.text
    await console.open("players")
    await console.page.fill("#players-search input[name=q]", "Grace")
    await console.page.press("#players-search input[name=q]", "Enter")
    await console.page.wait_for_selector("#players-rows tr:has-text('Grace Hopper')")
    filled(await console.cells("players-rows"), [0, 1])

    canonical_id = player["user"]["canonical_id"]
    await console.open(f"players/{canonical_id}")
    await console.page.wait_for_selector("#player-detail form")

    dialogs: list[str] = []
    console.page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    grant = console.page.locator("#player-detail form", has_text="Grant an item")
    await grant.locator("input[name=sku_id]").fill("gems")
    await grant.locator("input[name=quantity]").fill("5")
    await grant.locator("textarea[name=reason]").fill("make-good")
    await grant.locator("button[type=submit]").click()
    await console.page.wait_for_selector("#banner.banner-ok")
    assert any("500 units" in message for message in dialogs), dialogs
    wallet = await console.http.get("/api/v1/commerce/wallet", headers=player["headers"])
    assert wallet.json()["balances"] == [{"sku_id": "gems", "balance": 500}]

    ban = console.page.locator("#player-detail form", has_text="empty for a permanent ban")
    await ban.locator("textarea[name=reason]").fill("cheating in a test")
    await ban.locator("button[type=submit]").click()
    await console.page.wait_for_selector("#player-detail form:has-text('Unban')")
    me = await console.http.get("/api/v1/users/me", headers=player["headers"])
    assert me.status_code in (401, 403)


async def test_catalog_creates_skus_with_the_placeholders_shapes(console: Console) -> None:
    await console.open("catalog")
    await console.page.wait_for_selector("#catalog-empty:not([hidden])")
    form = console.page.locator("#sku-form")
    await form.locator("input[name=sku_id]").fill("golden-sword")
    await form.locator("input[name=name]").fill("Golden Sword")
    # What the placeholder shows is what the API takes.
    placeholder = await form.locator("textarea[name=metadata]").get_attribute("placeholder")
    assert placeholder
    await form.locator("textarea[name=metadata]").fill(placeholder)
    await form.locator("button[type=submit]").click()
    await console.page.wait_for_selector("#catalog-rows tr:has-text('golden-sword')")
    assert await console.banner() != "" and "banner-ok" in (
        await console.page.get_attribute("#banner", "class") or ""
    )
    filled(await console.cells("catalog-rows"), [0, 1, 2, 4])
    await console.page.click("#catalog-rows button:has-text('Deactivate')")
    await console.page.wait_for_selector("#catalog-rows button:has-text('Activate')")


async def test_seasons_create_with_rules_and_close(console: Console) -> None:
    await console.open("seasons")
    await console.page.wait_for_selector("#seasons-empty:not([hidden])")
    form = console.page.locator("#season-form")
    await form.locator("input[name=season_id]").fill("spring")
    await form.locator("input[name=name]").fill("Spring cup")
    placeholder = await form.locator("textarea[name=metadata]").get_attribute("placeholder")
    assert placeholder and "score_min" in placeholder
    await form.locator("textarea[name=metadata]").fill('{"score_min": 0, "score_max": 100}')
    now = dt.datetime.now()
    await form.locator("input[name=start_date]").fill(
        f"{now - dt.timedelta(hours=1):%Y-%m-%dT%H:%M:%S}"
    )
    await form.locator("input[name=end_date]").fill(
        f"{now + dt.timedelta(days=7):%Y-%m-%dT%H:%M:%S}"
    )
    await form.locator("button[type=submit]").click()
    await console.page.wait_for_selector("#banner:not([hidden])")
    assert "created" in await console.banner(), await console.banner()
    await console.page.wait_for_selector("#seasons-rows tr:has-text('spring')")
    player = await console.player("Runner")
    too_high = await console.http.post(
        "/api/v1/leaderboards/spring/scores", json={"score": 101}, headers=player["headers"]
    )
    assert too_high.status_code == 422  # the rule the placeholder names is the one enforced
    filled(await console.cells("seasons-rows"), [0, 1, 2, 3, 4, 5, 7])
    await console.page.click("#seasons-rows button:has-text('Close now')")
    await console.page.wait_for_selector("#seasons-rows tr:has-text('closed')", timeout=20_000)


async def test_audit_jobs_and_mailbox_list_what_happened(console: Console) -> None:
    registered = await console.http.post(
        "/api/v1/auth/email/register",
        json={"email": "reader@studio.test", "password": "quiet-harbour-lights-7"},
    )
    assert registered.status_code in (200, 201), registered.text
    await console.open("audit")
    await console.page.wait_for_selector("#audit-rows tr")
    filled(await console.cells("audit-rows"), [0, 2, 3, 4])
    await console.open("mailbox")
    await console.page.wait_for_selector("#mailbox-rows tr")
    filled(await console.cells("mailbox-rows"), [0, 1, 2])
    await console.open("jobs")
    await console.page.wait_for_selector("#jobs-rows tr, #jobs-empty:not([hidden])")
    # A failed action's banner does not follow the moderator to the next page.
    await console.open("catalog")
    await console.page.fill("#sku-form input[name=sku_id]", "broken")
    await console.page.fill("#sku-form input[name=name]", "Broken")
    await console.page.fill("#sku-form textarea[name=metadata]", "{not json")
    await console.page.click("#sku-form button[type=submit]")
    assert "not valid JSON" in await console.banner()
    await console.page.click("#nav a[data-view=overview]")
    await console.page.wait_for_selector("#view-overview:not([hidden])")
    assert await console.banner() == ""
    await console.page.wait_for_selector("#ready-checks tr")
    filled(await console.cells("ready-checks"), [0, 1])


async def test_a_players_orders_are_listed_and_refundable_and_bans_are_listed(
    console: Console, emulators: dict[str, str]
) -> None:
    admin = {"access_token": console.admin["Authorization"].removeprefix("Bearer ")}
    sku = await create_sku(console.http, admin)
    buyer = await steam_player(console.http, emulators)
    order = await buy(console.http, emulators, buyer, sku["sku_id"])

    await console.open(f"players/{buyer['user']['canonical_id']}")
    orders = console.page.locator("#player-detail div.card:has(h3:text-is('Orders'))")
    await orders.locator(f"tr:has-text('{order['order_id']}')").wait_for()
    filled(await _rows(orders), [0, 1, 2, 3, 4, 5, 6])
    await orders.locator("button:has-text('Refund')").click()
    await console.page.wait_for_selector("#banner:not([hidden])")
    assert "refunded" in await console.banner(), await console.banner()
    refunded = await console.http.get(
        f"/api/v1/commerce/orders/{order['order_id']}",
        headers={"Authorization": f"Bearer {buyer['access_token']}"},
    )
    assert refunded.json()["status"] == "refunded"

    # The bans list: banned players only.
    cheater = await console.player("Wall Hacker")
    banned = await console.http.post(
        f"/api/v1/admin/users/{cheater['user']['canonical_id']}/ban",
        json={"reason": "cheating"},
        headers=console.admin,
    )
    assert banned.status_code == 200, banned.text
    await console.open("players")
    await console.page.select_option("#players-search select[name=status]", "banned")
    await console.page.click("#players-search button[type=submit]")
    await console.page.wait_for_selector("#players-rows tr:has-text('Wall Hacker')")
    rows = await console.cells("players-rows")
    assert [r[1] for r in rows] == ["Wall Hacker"], rows
    filled(rows, [0, 1, 2])


async def _rows(section: Locator) -> list[list[str]]:
    out = []
    for row in await section.locator("tbody tr").all():
        out.append([(await c.inner_text()).strip() for c in await row.locator("td").all()])
    return out


async def test_moderators_see_images_and_the_file_list_of_maps(console: Console) -> None:
    creator = await console.player("Map Maker")
    image = await _upload_text(
        console, creator, "Harbour shot", PNG, type="image", content_type="image/png",
        filename="shot.png",
    )  # fmt: skip
    level = zip_of({"harbour/level.dat": b"\0" * 64, "harbour/readme.txt": b"two flags"})
    map_id = await _upload_text(
        console, creator, "Harbour", level, type="map", content_type="application/zip",
        filename="harbour.zip",
    )  # fmt: skip
    for ugc_id in (image, map_id):
        await _wait_status(console, ugc_id, "pending_review")
    await console.open("moderation")
    await console.page.wait_for_selector(f"#moderation-rows tr:has-text('{map_id}')")
    await console.page.click(f"#moderation-rows tr.expandable:has-text('{image}') td >> nth=0")
    shown = console.page.locator("#moderation-rows tr.detail-row:not([hidden]) img.preview")
    await shown.wait_for()
    await console.page.click(f"#moderation-rows tr.expandable:has-text('{map_id}') td >> nth=0")
    files = console.page.locator(
        "#moderation-rows tr.detail-row:not([hidden])", has_text="level.dat"
    )
    await files.first.wait_for()
    text = await files.first.inner_text()
    assert "harbour/level.dat" in text and "harbour/readme.txt" in text
