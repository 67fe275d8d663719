"""Moderation: reports hide content past the threshold, decisions, appeals, and the audit
trail of every decision."""

from __future__ import annotations

from typing import Any

from tests.support.db import latest_mail, token_from_mail
from tests.support.players import auth, email_register
from tests.support.staff import staff_login
from tests.support.ugc import EICAR, World, run_ugc_jobs


async def _audit(world: World, staff: dict[str, str], **filters: str) -> list[dict[str, Any]]:
    response = await world.client.get("/api/v1/admin/audit-logs", params=filters, headers=staff)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _admin(world: World) -> dict[str, str]:
    return auth(await staff_login(world.client, world.runtime, role="admin"))


async def test_report_threshold_hides_content_and_appeal_granted_restores_it(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"controversial notes")
    first, second = await local.seasoned_player(), await local.seasoned_player()

    reported = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/reports",
        json={"reason": "offensive", "description": "rude"},
        headers=first,
    )
    assert reported.status_code == 201 and reported.json()["status"] == "open"
    again = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/reports", json={"reason": "spam"}, headers=first
    )
    assert again.status_code == 409 and again.json()["code"] == "already_reported"
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 200  # one reporter

    assert (
        await local.client.post(
            f"/api/v1/ugc/{ugc_id}/reports", json={"reason": "spam"}, headers=second
        )
    ).status_code == 201
    # Two established reporters (weight 1 each; the test threshold is 2): hidden for review.
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).status_code == 404
    mine = await local.item(creator, ugc_id)
    assert mine["status"] == "flagged" and mine["status_reason"] == "reported"
    staff = await local.moderator()
    flagged = await local.client.get(
        "/api/v1/moderation/ugc?status=flagged&limit=100", headers=staff
    )
    assert ugc_id in [i["ugc_id"] for i in flagged.json()["items"]]

    appealed = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/appeals", json={"message": "It is satire."}, headers=creator
    )
    assert appealed.status_code == 201
    twice = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/appeals", json={"message": "Please."}, headers=creator
    )
    assert twice.status_code == 409 and twice.json()["code"] == "appeal_exists"
    listed = await local.client.get("/api/v1/moderation/appeals?limit=100", headers=staff)
    assert appealed.json()["appeal_id"] in [a["appeal_id"] for a in listed.json()["items"]]

    granted = await local.client.post(
        f"/api/v1/moderation/appeals/{appealed.json()['appeal_id']}/decision",
        json={"action": "grant", "notes": "fair"},
        headers=staff,
    )
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    assert (await local.client.get(f"/api/v1/ugc/{ugc_id}")).json()["status"] == "published"
    decided_again = await local.client.post(
        f"/api/v1/moderation/appeals/{appealed.json()['appeal_id']}/decision",
        json={"action": "deny"},
        headers=staff,
    )
    assert decided_again.status_code == 409

    admin = await _admin(local)
    entries = await _audit(local, admin, action="ugc.appeal.grant")
    assert any(e["resource_id"] == appealed.json()["appeal_id"] for e in entries)
    hidden = await _audit(local, admin, action="ugc.hidden_by_reports")
    assert any(e["resource_id"] == ugc_id for e in hidden)


async def test_upheld_report_removes_and_dismissed_report_shows_again(local: World) -> None:
    creator = await local.player()
    kept = await local.published(creator, b"fine notes")
    gone = await local.published(creator, b"bad notes")
    staff = await local.moderator()
    reports = {}
    for ugc_id in (kept, gone):
        for _ in range(2):
            response = await local.client.post(
                f"/api/v1/ugc/{ugc_id}/reports",
                json={"reason": "cheating"},
                headers=await local.seasoned_player(),
            )
            reports[ugc_id] = response.json()["report_id"]
    dismissed = await local.client.post(
        f"/api/v1/moderation/reports/{reports[kept]}/decision",
        json={"action": "dismiss", "notes": "not cheating"},
        headers=staff,
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert (await local.client.get(f"/api/v1/ugc/{kept}")).json()["status"] == "published"

    upheld = await local.client.post(
        f"/api/v1/moderation/reports/{reports[gone]}/decision",
        json={"action": "uphold", "notes": "cheat engine"},
        headers=staff,
    )
    assert upheld.status_code == 200
    removed = await local.item(creator, gone)
    assert removed["status"] == "removed" and removed["status_reason"] == "reported"
    open_reports = await local.client.get("/api/v1/moderation/reports?limit=100", headers=staff)
    assert gone not in [r["ugc_id"] for r in open_reports.json()["items"]]
    downloads = await local.client.get(f"/api/v1/ugc/{gone}/download", headers=creator)
    assert downloads.status_code == 403


async def test_decisions_follow_the_status_rules_and_are_audited(local: World) -> None:
    creator = await local.player()
    item = await local.upload(creator, b"to be rejected")
    staff = await local.moderator()
    assert (await local.decide(staff, item["ugc_id"], "restore")).status_code == 409
    rejected = await local.decide(staff, item["ugc_id"], "reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "removed"
    assert (await local.decide(staff, item["ugc_id"], "reject")).status_code == 409
    assert (await local.decide(staff, "u" + "0" * 24, "approve")).status_code == 404
    restored = await local.decide(staff, item["ugc_id"], "restore")
    assert restored.json()["status"] == "published"
    removed = await local.decide(staff, item["ugc_id"], "remove")
    assert removed.json()["status"] == "removed"

    admin = await _admin(local)
    creator_id = await local.canonical_id(creator)
    entries = await _audit(local, admin, resource_type="ugc", user=creator_id)
    actions = [e["action"] for e in entries if e["resource_id"] == item["ugc_id"]]
    assert {"ugc.reject", "ugc.restore", "ugc.remove", "ugc.scanned"} <= set(actions)


async def test_malware_appeal_is_scanned_again_and_stays_removed(local: World) -> None:
    creator = await local.player()
    item = await local.upload(creator, EICAR, filename="eicar.txt")
    assert item["status"] == "removed"
    appealed = await local.client.post(
        f"/api/v1/ugc/{item['ugc_id']}/appeals", json={"message": "false positive"}, headers=creator
    )
    assert appealed.status_code == 201
    staff = await local.moderator()
    granted = await local.client.post(
        f"/api/v1/moderation/appeals/{appealed.json()['appeal_id']}/decision",
        json={"action": "grant"},
        headers=staff,
    )
    assert granted.status_code == 200, granted.text
    assert (await local.item(creator, item["ugc_id"]))["status"] == "scanning"
    await run_ugc_jobs(local.runtime)
    again = await local.item(creator, item["ugc_id"])
    assert again["status"] == "removed" and again["status_reason"] == "malware"


async def test_only_flagged_or_removed_items_can_be_appealed(local: World) -> None:
    creator = await local.player()
    ugc_id = await local.published(creator, b"all good")
    refused = await local.client.post(
        f"/api/v1/ugc/{ugc_id}/appeals", json={"message": "why not"}, headers=creator
    )
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"


async def test_creator_with_a_verified_email_is_told_why_by_mail(local: World) -> None:
    registered = await email_register(local.client)
    token = token_from_mail(await latest_mail(local.runtime, registered["email"], "verify_email"))
    verified = await local.client.post("/api/v1/auth/email/verify", json={"token": token})
    assert verified.status_code == 200
    item = await local.upload(auth(registered), EICAR, filename="eicar.txt")
    assert item["status"] == "removed"
    body = await latest_mail(local.runtime, registered["email"], "ugc_status")
    assert "malware" in body and item["ugc_id"] in body and "appeal" in body
