"""Players' reports against players, UGC, leaderboard entries and messages.

A report names a target that must exist (404 otherwise) and is not the reporter; one
reporter files at most one report per target and reason in 24 hours (409
`duplicate_report`), and at most `PP_SAFETY_REPORT_RATE` reports in all (429). Open reports
on one target form one group, one item of the moderation queue, whose priority is the number
of distinct players who reported it. A moderator closes the group by sanctioning with the
reports linked (`actioned`) or by deciding it (`actioned` / `dismissed`); every reporter is
told the outcome, never what was done or to whom.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import PageParams, decode_cursor, paginate
from playerplatform.kit.views import Views
from playerplatform.leaderboards import service as leaderboards
from playerplatform.messaging import inbox
from playerplatform.safety import notices, queue, repository
from playerplatform.safety.ids import new_public_id
from playerplatform.safety.models import Report, ReportGroup, reports_owner
from playerplatform.safety.schemas import GroupOut, ReportIn, ReportOut, TimeCursor
from playerplatform.ugc import access as ugc_access
from playerplatform.users import service as users
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

DUPLICATE_WINDOW = dt.timedelta(hours=24)


class DuplicateReport(AppError):
    status, code, title = 409, "duplicate_report", "You already reported this"


class AlreadyDecided(AppError):
    status, code, title = 409, "already_decided", "Already decided"


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: str
    owner_id: uuid.UUID  # the player behind it
    summary: dict[str, Any]


async def _player(uow: UnitOfWork, target_id: str) -> Target:
    user = await users.get_visible(uow, target_id)
    return Target("player", user.canonical_id, user.id, {"canonical_id": user.canonical_id})


async def _ugc(uow: UnitOfWork, reporter: Principal, target_id: str) -> Target:
    item = await ugc_access.visible_item(uow, target_id, reporter)
    return Target(
        "ugc", item.public_id, item.creator_id, {"ugc_id": item.public_id, "name": item.name}
    )


async def _entry(uow: UnitOfWork, runtime: Runtime, target_id: str) -> Target:
    """`{season_id}:{canonical_id}`: that player's entry in that season."""
    season_id, _, canonical_id = target_id.partition(":")
    if not season_id or not canonical_id:
        raise NotFound("No such leaderboard entry.")
    found = await leaderboards.entries_of(uow, runtime.leaderboards, season_id, [canonical_id])
    if not found:
        raise NotFound("No such leaderboard entry.")
    user = await users.get_by_canonical(uow, canonical_id)
    summary = {"season_id": season_id, "canonical_id": canonical_id, "score": found[0]["score"]}
    return Target("leaderboard_entry", target_id, user.id, summary)


async def _message(uow: UnitOfWork, reporter: Principal, target_id: str) -> Target:
    """A message of the reporter's own inbox that carries another player's doing (a friend
    request: its text shows the sender's name); the player behind it is the one reported."""
    assert reporter.user_id is not None
    found = await inbox.reported_message(uow, reporter.user_id, target_id)
    if found is None:
        raise NotFound("No such message.")
    if found.author is None:
        raise ValidationFailed(
            "This message comes from the studio, not from a player: send feedback about it"
            " instead.",
            field="target.id",
        )
    user = await users.get_by_canonical(uow, found.author)
    summary = {
        "message_id": found.message_id,
        "kind": found.kind,
        "title": found.title,
        "canonical_id": found.author,
    }
    return Target("message", found.message_id, user.id, summary)


async def resolve_target(
    uow: UnitOfWork, runtime: Runtime, reporter: Principal, type_: str, target_id: str
) -> Target:
    """The reported thing, as the reporter can see it; 404 when it does not exist for them."""
    if type_ == "player":
        return await _player(uow, target_id)
    if type_ == "ugc":
        return await _ugc(uow, reporter, target_id)
    if type_ == "leaderboard_entry":
        return await _entry(uow, runtime, target_id)
    return await _message(uow, reporter, target_id)


def _out(report: Report, status: str) -> ReportOut:
    return ReportOut(
        report_id=report.public_id,
        target={"type": report.target_type, "id": report.target_id},
        reason=report.reason,
        status=status,
        created_at=report.created_at,
    )


async def file_report(
    uow: UnitOfWork, runtime: Runtime, reporter: Principal, body: ReportIn, client: ClientInfo
) -> ReportOut:
    """File a report and add it to its target's group (and the group to the queue)."""
    assert reporter.user_id is not None
    target = await resolve_target(uow, runtime, reporter, body.target.type, body.target.id)
    if target.owner_id == reporter.user_id:
        raise ValidationFailed("You cannot report yourself or your own things.", field="target")
    now = utcnow()
    if await repository.reported_since(
        uow, reporter.user_id, target.type, target.id, body.reason, now - DUPLICATE_WINDOW
    ):
        raise DuplicateReport("You already reported this for that reason today.")
    settings = runtime.settings
    await runtime.limiter.count_action(
        "safety_report:account", reporter.subject, settings.safety_report_rate
    )
    group = await _group_for(uow, target, now)
    report = Report(
        id=new_uuid(),
        public_id=new_public_id("r"),
        group_id=group.id,
        reporter_id=reporter.user_id,
        target_type=target.type,
        target_id=target.id,
        reason=body.reason,
        description=body.description,
        context=body.context,
        day=now.date(),
        created_at=now,
    )
    if not await repository.insert_report(uow, report):
        raise DuplicateReport("You already reported this for that reason today.")
    group.reporters = await repository.distinct_reporters(uow, group.id)
    group.reasons = {**group.reasons, body.reason: int(group.reasons.get(body.reason, 0)) + 1}
    group.updated_at = now
    await uow.session.flush()
    await queue.enqueue(
        uow,
        "report",
        group.public_id,
        priority=group.reporters,
        subject={
            "group_id": group.public_id,
            "target": {"type": target.type, "id": target.id, **target.summary},
            "reasons": group.reasons,
            "reporters": group.reporters,
        },
    )
    return _out(report, "open")


async def _group_for(uow: UnitOfWork, target: Target, now: dt.datetime) -> ReportGroup:
    group = await repository.open_group(uow, target.type, target.id, for_update=True)
    if group is not None:
        return group
    fresh = ReportGroup(
        id=new_uuid(),
        public_id=new_public_id("g"),
        target_type=target.type,
        target_id=target.id,
        target_user_id=target.owner_id,
        status="open",
        reporters=0,
        reasons={},
        outcome=None,
        created_at=now,
        updated_at=now,
        decided_at=None,
    )
    if await repository.insert_group(uow, fresh):
        return fresh
    # Opened by a concurrent report a moment ago.
    found = await repository.open_group(uow, target.type, target.id, for_update=True)
    assert found is not None
    return found


async def my_reports(uow: UnitOfWork, cache: Views, reporter: Principal, page: PageParams) -> bytes:
    """The caller's reports with their outcome (open, actioned, dismissed), newest first:
    encoded, from the reporter's cached view while none of their reports changed."""
    assert reporter.user_id is not None
    user_id = reporter.user_id
    after = decode_cursor(page.cursor, TimeCursor)

    async def load() -> bytes:
        rows = await repository.reports_by(
            uow, user_id, after=(after.t, after.i) if after else None, limit=page.limit + 1
        )
        found = paginate(
            rows,
            page.limit,
            lambda r: TimeCursor(t=r[0].created_at, i=r[0].public_id),
            lambda r: _out(r[0], r[1]),
        )
        return found.model_dump_json().encode()

    return await cache.read(reports_owner(user_id), page.view_name("page"), load)


async def check_linkable(uow: UnitOfWork, report_ids: Sequence[str], user: User) -> None:
    """Reports linked to a sanction on `user` exist and are about `user` (422 otherwise)."""
    if not report_ids:
        return
    found = await repository.reports_by_public_ids(uow, list(set(report_ids)))
    owners: set[uuid.UUID | None] = set()
    for group_id in {r.group_id for r in found}:
        group = await repository.get_group_by_id(uow, group_id)
        owners.add(group.target_user_id if group is not None else None)
    if len(found) != len(set(report_ids)) or owners != {user.id}:
        raise ValidationFailed("Link reports about this player only.", field="report_ids")


async def _close_group(uow: UnitOfWork, runtime: Runtime, group: ReportGroup, outcome: str) -> None:
    now = utcnow()
    group.status, group.outcome, group.decided_at, group.updated_at = outcome, outcome, now, now
    await uow.session.flush()
    await queue.done(uow, "report", group.public_id)
    told: set[uuid.UUID] = set()
    for report in await repository.reports_in_group(uow, group.id):
        if report.reporter_id in told:
            continue
        told.add(report.reporter_id)
        views.changed(uow, reports_owner(report.reporter_id))  # the report's status shown
        await notices.tell(
            uow,
            runtime,
            report.reporter_id,
            "report_outcome",
            "About your report",
            "Thank you for your report. A moderator reviewed it and took action."
            if outcome == "actioned"
            else "Thank you for your report. A moderator reviewed it and took no action.",
            {"report_id": report.public_id},
        )


async def close_linked(
    uow: UnitOfWork, runtime: Runtime, report_ids: Sequence[str], *, outcome: str
) -> None:
    """Close the open groups of these reports with `outcome`, telling their reporters."""
    found = await repository.reports_by_public_ids(uow, list(set(report_ids)))
    for group_id in {r.group_id for r in found}:
        group = await repository.get_group_by_id(uow, group_id)
        if group is not None and group.status == "open":
            await _close_group(uow, runtime, group, outcome)


async def decide_group(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    group_id: str,
    action: str,
    notes: str | None,
    client: ClientInfo,
) -> GroupOut:
    """Close a report group: `dismiss` (nothing wrong) or `action` (dealt with, e.g. the
    content was removed); audited, reporters told."""
    group = await repository.get_group(uow, group_id)
    if group is None:
        raise NotFound("No such report group.")
    if group.status != "open":
        raise AlreadyDecided("This report group was already decided.")
    await queue.check_not_held(uow, "report", group.public_id, moderator)
    outcome = "actioned" if action == "action" else "dismissed"
    await _close_group(uow, runtime, group, outcome)
    await audit.record(
        uow,
        action=f"report_group.{outcome}",
        resource_type="report_group",
        resource_id=group.public_id,
        actor=moderator,
        old={"status": "open"},
        new={"status": outcome, "notes": notes},
        client=client,
    )
    return GroupOut(
        group_id=group.public_id,
        status=group.status,
        reporters=group.reporters,
        reasons={k: int(v) for k, v in group.reasons.items()},
    )
