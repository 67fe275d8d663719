"""Appeals, one model for sanctions and content.

`POST /appeals` takes a target: a sanction (appealed by the sanctioned player) or a UGC item
(by its creator; the appeal is kept by the UGC domain, as its own appeal route keeps it).
One appeal is open per target (409 `appeal_open`); anyone else's target is 404. Both kinds
are decided at `POST /moderation/appeals/{id}/decision` and both sit in the moderation
queue. Granting lifts the sanction or restores the content; every outcome is told to the
player. With `PP_SAFETY_APPEAL_SECOND_MODERATOR` (on by default) the moderator who imposed a
sanction cannot decide its appeal while another staff account exists (403 `own_sanction`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, Forbidden, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.safety import notices, queue, repository, sanctions
from playerplatform.safety.ids import new_public_id
from playerplatform.safety.models import SanctionAppeal
from playerplatform.safety.schemas import AppealIn, AppealOut
from playerplatform.ugc import moderation as ugc_moderation
from playerplatform.ugc import schemas as ugc_schemas
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

APPEAL_PRIORITY = 3


class AppealOpen(AppError):
    status, code, title = 409, "appeal_open", "An appeal is already open"


class NotAppealable(AppError):
    status, code, title = 409, "not_appealable", "This sanction cannot be appealed"


class OwnSanction(Forbidden):
    code, title = "own_sanction", "Another moderator decides this appeal"


def _out(row: SanctionAppeal, sanction_id: str) -> AppealOut:
    return AppealOut(
        appeal_id=row.public_id,
        target={"type": "sanction", "id": sanction_id},
        message=row.message,
        status=row.status,
        notes=row.notes,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def _ugc_out(found: ugc_schemas.AppealOut) -> AppealOut:
    return AppealOut(
        appeal_id=found.appeal_id,
        target={"type": "ugc", "id": found.ugc_id},
        message=found.message,
        status=found.status,
        notes=found.notes,
        created_at=found.created_at,
        decided_at=found.decided_at,
        ugc_id=found.ugc_id,
        appellant=found.appellant,
    )


async def appeal(uow: UnitOfWork, player: Principal, body: AppealIn) -> AppealOut:
    """Open an appeal against the caller's own sanction or content."""
    if body.target.type == "ugc":
        return await _appeal_content(uow, player, body)
    assert player.user_id is not None
    sanction = await sanctions.owned_sanction(uow, player, body.target.id)
    if sanction.lifted_at is not None or not (
        sanction.type == "warning" or sanctions.in_force(sanction)
    ):
        raise NotAppealable("This sanction is no longer in force.")
    now = utcnow()
    row = SanctionAppeal(
        id=new_uuid(),
        public_id=new_public_id("ap"),
        sanction_id=sanction.id,
        appellant_id=player.user_id,
        message=body.message,
        status="open",
        decided_by=None,
        notes=None,
        created_at=now,
        decided_at=None,
    )
    if not await repository.insert_appeal(uow, row):
        raise AppealOpen("This sanction already has an open appeal.")
    await queue.enqueue(
        uow,
        "appeal",
        row.public_id,
        priority=APPEAL_PRIORITY,
        subject={
            "appeal_id": row.public_id,
            "target": {"type": "sanction", "id": sanction.public_id},
            "sanction": {"type": sanction.type, "scope": sanction.scope, "reason": sanction.reason},
            "canonical_id": player.subject,
            "message": row.message,
        },
    )
    return _out(row, sanction.public_id)


async def _appeal_content(uow: UnitOfWork, player: Principal, body: AppealIn) -> AppealOut:
    try:
        found = await ugc_moderation.appeal(
            uow, player, body.target.id, ugc_schemas.AppealIn(message=body.message)
        )
    except ugc_moderation.AppealExists:
        raise AppealOpen("This item already has an open appeal.") from None
    except Forbidden:  # someone else's item: not disclosed
        raise NotFound("No such item.") from None
    return _ugc_out(found)


async def decide(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    appeal_id: str,
    action: str,
    notes: str | None,
    client: ClientInfo,
) -> AppealOut:
    """Grant (lift the sanction / restore the content) or deny an appeal of either kind."""
    await queue.check_not_held(uow, "appeal", appeal_id, moderator)
    row = await repository.get_appeal(uow, appeal_id, for_update=True)
    if row is None:
        found = await ugc_moderation.decide_appeal(
            uow, runtime, moderator, appeal_id, action, notes, client
        )
        await queue.done(uow, "appeal", appeal_id)
        return _ugc_out(found)
    if row.status != "open":
        raise ugc_moderation.AlreadyDecided("This appeal was already decided.")
    sanction = await repository.get_sanction_by_id(uow, row.sanction_id)
    assert sanction is not None
    if (
        runtime.settings.safety_appeal_second_moderator
        and sanction.imposed_by == moderator.actor_id
        and await users.other_staff_exists(uow, moderator.subject)
    ):
        raise OwnSanction("You imposed this sanction; another moderator decides its appeal.")
    if action == "grant":
        await sanctions.lift_for_appeal(uow, runtime, sanction, moderator.actor_id)
    row.status = "granted" if action == "grant" else "denied"
    row.decided_by, row.notes, row.decided_at = moderator.actor_id, notes, utcnow()
    await uow.session.flush()
    owner = await users.get_user(uow, sanction.user_id)
    await audit.record(
        uow,
        action=f"appeal.{action}",
        resource_type="appeal",
        resource_id=row.public_id,
        actor=moderator,
        subjects=[owner.canonical_id],
        old={"status": "open"},
        new={"status": row.status, "sanction_id": sanction.public_id, "notes": notes},
        client=client,
    )
    await queue.done(uow, "appeal", row.public_id)
    await notices.tell(
        uow,
        runtime,
        row.appellant_id,
        "appeal_decided",
        f"Your appeal was {row.status}",
        f"Your appeal against a {sanction.type} was {row.status}."
        + (" The sanction is lifted." if action == "grant" else ""),
        {"appeal_id": row.public_id, "sanction_id": sanction.public_id},
    )
    return _out(row, sanction.public_id)
