"""Sanctions: warnings, mutes, suspensions, bans and scoped restrictions.

A sanction row is the record; what it holds back is summarised on the account (the users
domain's ban fields and restriction summary) and published to every API process through the
auth state, which each request reads anyway. So a sanction applies from the player's very
next request in every process, on every route its scope covers (the fast dispatch included),
and a timed one ends by itself: the summary carries its end, checked on every use.

What each sanction holds back:

| type        | scope                               | enforced as                                  |
|-------------|-------------------------------------|----------------------------------------------|
| warning     | all                                 | nothing: on the record, told to the player   |
| mute        | all / social                        | `social` and `messages` / `social` only      |
| restriction | leaderboards / ugc / social / name  | that scope (`name` also clears the name)     |
| suspension  | all (timed)                         | sign-in and every request refused            |
| ban         | all                                 | sign-in and every request refused            |
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.auth import sessions
from playerplatform.auth.deps import Principal
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, Forbidden, NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.views import Views
from playerplatform.safety import notices, reports, repository
from playerplatform.safety.ids import new_public_id
from playerplatform.safety.models import Sanction, sanctions_owner
from playerplatform.safety.schemas import (
    SanctionIn,
    SanctionOut,
    SanctionsOut,
    StaffSanctionOut,
    TimeCursor,
)
from playerplatform.users import service as users
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

STAFF_ROLES = frozenset({"moderator", "admin"})
ACCOUNT_WIDE = frozenset({"suspension", "ban"})
# The scopes a restriction of scope `all` covers; a mute covers what players say to others.
ALL_SCOPES = ("leaderboards", "ugc", "social", "name")
MUTE_SCOPES = {"all": ("social", "messages"), "social": ("social",)}


class CannotSanctionSelf(ValidationFailed):
    code, title = "cannot_sanction_self", "Cannot ban or unban yourself"


class AlreadyLifted(AppError):
    status, code, title = 409, "already_lifted", "The sanction was already lifted"


def enforced_scopes(sanction: Sanction) -> tuple[str, ...]:
    """The request scopes a sanction holds back (account-wide ones are the ban fields)."""
    if sanction.type == "mute":
        return MUTE_SCOPES.get(sanction.scope, ())
    if sanction.type == "restriction":
        return ALL_SCOPES if sanction.scope == "all" else (sanction.scope,)
    return ()


def in_force(sanction: Sanction, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        sanction.lifted_at is None
        and sanction.starts_at <= now
        and (sanction.ends_at is None or sanction.ends_at > now)
    )


def _latest_end(ends: list[dt.datetime | None]) -> dt.datetime | None:
    return None if any(e is None for e in ends) else max(e for e in ends if e is not None)


def may_sanction(actor: Principal, target: User) -> None:
    """Staff never sanction themselves; only an admin sanctions a moderator or an admin."""
    if target.canonical_id == actor.subject:
        raise CannotSanctionSelf("Staff cannot ban or unban themselves.", field="canonical_id")
    if STAFF_ROLES & set(target.roles) and not actor.has_role("admin"):
        raise Forbidden("Only an admin may ban or unban a moderator or an admin.")


async def refresh_account(
    uow: UnitOfWork, runtime: Runtime, user: User, *, bans_changed: bool
) -> None:
    """Summarise the account's sanctions in force on its row and publish it to every API
    process. The ban fields are rewritten only when a ban or suspension changed (an account
    banned before sanctions existed keeps its ban until it is lifted)."""
    now = utcnow()
    live = [s for s in await repository.unlifted_sanctions(uow, user.id) if in_force(s, now)]
    scopes: dict[str, list[dt.datetime | None]] = {}
    for sanction in live:
        for scope in enforced_scopes(sanction):
            scopes.setdefault(scope, []).append(sanction.ends_at)
    await users.set_restrictions(uow, user, {s: _latest_end(e) for s, e in scopes.items()})
    if bans_changed:
        bans = [s for s in live if s.type in ACCOUNT_WIDE]
        if bans:
            newest = max(bans, key=lambda s: s.created_at)
            reason = newest.message or newest.reason
            await users.apply_ban(
                uow, user, reason=reason, until=_latest_end([b.ends_at for b in bans])
            )
        elif user.status == "banned":
            await users.lift_ban(uow, user)
    sessions.publish_user(uow, runtime.hot, user)


def sanction_out(sanction: Sanction, appealed: bool, now: dt.datetime | None = None) -> SanctionOut:
    active = in_force(sanction, now)
    return SanctionOut(
        sanction_id=sanction.public_id,
        type=sanction.type,
        scope=sanction.scope,
        reason=sanction.reason,
        message=sanction.message,
        starts_at=sanction.starts_at,
        ends_at=sanction.ends_at,
        lifted_at=sanction.lifted_at,
        active=active,
        appealable=(active or sanction.type == "warning")
        and sanction.lifted_at is None
        and not appealed,
    )


def staff_sanction_out(sanction: Sanction, canonical_id: str, appealed: bool) -> StaffSanctionOut:
    return StaffSanctionOut(
        **sanction_out(sanction, appealed).model_dump(),
        canonical_id=canonical_id,
        notes=sanction.notes,
        report_ids=list(sanction.report_ids),
        imposed_by=sanction.imposed_by,
        lifted_by=sanction.lifted_by,
        lift_reason=sanction.lift_reason,
    )


def _state(sanction: Sanction) -> dict[str, Any]:
    return {
        "type": sanction.type,
        "scope": sanction.scope,
        "reason": sanction.reason,
        "ends_at": sanction.ends_at.isoformat() if sanction.ends_at else None,
        "lifted": sanction.lifted_at is not None,
    }


async def _insert(
    uow: UnitOfWork,
    runtime: Runtime,
    user: User,
    *,
    actor: Principal,
    type_: str,
    scope: str,
    reason: str,
    message: str | None,
    notes: str | None,
    ends_at: dt.datetime | None,
    report_ids: list[str],
) -> Sanction:
    now = utcnow()
    row = Sanction(
        id=new_uuid(),
        public_id=new_public_id("s"),
        user_id=user.id,
        type=type_,
        scope=scope,
        reason=reason,
        message=message,
        notes=notes,
        report_ids=report_ids,
        imposed_by=actor.actor_id,
        starts_at=now,
        ends_at=ends_at,
        lifted_at=None,
        lifted_by=None,
        lift_reason=None,
        created_at=now,
    )
    await repository.insert_sanction(uow, row)
    if type_ in ACCOUNT_WIDE:
        await sessions.revoke_user_sessions(uow, runtime.hot, user, reason=type_)
    if "name" in enforced_scopes(row):
        await users.reset_display_name(uow, runtime.hot, user)
    await refresh_account(uow, runtime, user, bans_changed=type_ in ACCOUNT_WIDE)
    return row


async def _tell_imposed(uow: UnitOfWork, runtime: Runtime, row: Sanction) -> None:
    until = f" until {row.ends_at.isoformat()}" if row.ends_at else ""
    what = row.type if row.scope == "all" else f"{row.type} ({row.scope})"
    await notices.tell(
        uow,
        runtime,
        row.user_id,
        "sanction",
        f"A {row.type} on your account",
        f"A moderator placed a {what} on your account{until}. Reason: {row.reason}."
        + (f" {row.message}" if row.message else "")
        + " You can appeal it.",
        {"sanction_id": row.public_id},
    )


async def impose(
    uow: UnitOfWork, runtime: Runtime, actor: Principal, body: SanctionIn, client: ClientInfo
) -> StaffSanctionOut:
    """Place a sanction (audited, told to the player); it applies from the player's next
    request. Linked reports are closed as actioned and their reporters told."""
    user = await users.lock_account(uow, body.canonical_id)
    may_sanction(actor, user)
    await reports.check_linkable(uow, body.report_ids, user)
    row = await _insert(
        uow,
        runtime,
        user,
        actor=actor,
        type_=body.type,
        scope=body.scope,
        reason=body.reason,
        message=body.message,
        notes=body.notes,
        ends_at=body.ends_at,
        report_ids=body.report_ids,
    )
    await audit.record(
        uow,
        action="sanction.impose",
        resource_type="sanction",
        resource_id=row.public_id,
        actor=actor,
        subjects=[user.canonical_id],
        new={**_state(row), "report_ids": body.report_ids, "notes": body.notes},
        client=client,
    )
    await reports.close_linked(uow, runtime, body.report_ids, outcome="actioned")
    await _tell_imposed(uow, runtime, row)
    return staff_sanction_out(row, user.canonical_id, appealed=False)


async def _lift(
    uow: UnitOfWork, runtime: Runtime, row: Sanction, user: User, by: str, reason: str
) -> None:
    row.lifted_at, row.lifted_by, row.lift_reason = utcnow(), by, reason
    await uow.session.flush()
    await refresh_account(uow, runtime, user, bans_changed=row.type in ACCOUNT_WIDE)


async def lift(
    uow: UnitOfWork,
    runtime: Runtime,
    actor: Principal | str,
    sanction_id: str,
    reason: str,
    client: ClientInfo | None,
    *,
    action: str = "sanction.lift",
) -> StaffSanctionOut:
    """End a sanction now (audited, told to the player); lifting one already lifted is 409."""
    row = await repository.get_sanction(uow, sanction_id, for_update=True)
    if row is None:
        raise NotFound("No such sanction.")
    if row.lifted_at is not None:
        raise AlreadyLifted("This sanction was already lifted.")
    owner = await users.get_user(uow, row.user_id)
    user = await users.lock_account(uow, owner.canonical_id)
    if isinstance(actor, Principal):
        may_sanction(actor, user)
    before = _state(row)
    by = actor.actor_id if isinstance(actor, Principal) else actor
    await _lift(uow, runtime, row, user, by, reason)
    await audit.record(
        uow,
        action=action,
        resource_type="sanction",
        resource_id=row.public_id,
        actor=actor,
        subjects=[user.canonical_id],
        old=before,
        new={**_state(row), "reason": reason},
        client=client,
    )
    await notices.tell(
        uow,
        runtime,
        user.id,
        "sanction_lifted",
        f"Your {row.type} was lifted",
        f"The {row.type} on your account was lifted.",
        {"sanction_id": row.public_id},
    )
    appealed = row.id in await repository.appealed_sanctions(uow, [row.id])
    return staff_sanction_out(row, user.canonical_id, appealed)


async def staff_view(uow: UnitOfWork, sanction_id: str) -> StaffSanctionOut:
    row = await repository.get_sanction(uow, sanction_id)
    if row is None:
        raise NotFound("No such sanction.")
    owner = await users.get_user(uow, row.user_id)
    appealed = row.id in await repository.appealed_sanctions(uow, [row.id])
    return staff_sanction_out(row, owner.canonical_id, appealed)


async def search(
    uow: UnitOfWork, *, canonical_id: str | None, active: bool, page: PageParams
) -> Page[StaffSanctionOut]:
    """Sanctions for staff, newest first: one player's (`canonical_id`), only those in force
    (`active`), or all."""
    user_id = (await users.get_by_canonical(uow, canonical_id)).id if canonical_id else None
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_sanctions(
        uow,
        user_id=user_id,
        active_at=utcnow() if active else None,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    shown = rows[: page.limit]
    appealed = await repository.appealed_sanctions(uow, [r.id for r in shown])
    owners = await users.canonical_ids(uow, [r.user_id for r in shown])
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r.created_at, i=r.public_id),
        lambda r: staff_sanction_out(r, owners[r.user_id], r.id in appealed),
    )


async def my_sanctions(uow: UnitOfWork, views: Views, principal: Principal) -> bytes:
    """The player's sanctions, newest first, active and past; never who reported them.
    Encoded, from the player's cached view: renewed when one is imposed, lifted, appealed
    or moves with a merge, and kept only until the next start or end among them (when
    `active` changes)."""
    assert principal.user_id is not None
    user_id = principal.user_id

    async def load() -> tuple[bytes, float | None]:
        rows = await repository.sanctions_of(uow, user_id)
        appealed = await repository.appealed_sanctions(uow, [r.id for r in rows])
        now = utcnow()
        out = SanctionsOut(items=[sanction_out(r, r.id in appealed, now) for r in rows])
        moments = [
            at
            for r in rows
            if r.lifted_at is None
            for at in (r.starts_at, r.ends_at)
            if at is not None and at > now
        ]
        return out.model_dump_json().encode(), min(moments).timestamp() if moments else None

    return await views.read_until(sanctions_owner(user_id), "mine", load)


async def owned_sanction(uow: UnitOfWork, principal: Principal, sanction_id: str) -> Sanction:
    """The caller's own sanction; 404 for anyone else's, so ids cannot be probed."""
    row = await repository.get_sanction(uow, sanction_id)
    if row is None or row.user_id != principal.user_id:
        raise NotFound("No such sanction.")
    return row


async def lift_for_appeal(uow: UnitOfWork, runtime: Runtime, sanction: Sanction, by: str) -> None:
    """A granted appeal ends the sanction (audited by the appeal's decision)."""
    if sanction.lifted_at is not None:
        return
    user = await users.lock_account(uow, (await users.get_user(uow, sanction.user_id)).canonical_id)
    await _lift(uow, runtime, sanction, user, by, "appeal granted")


# The account ban routes (`/admin/users/{id}/ban` and `/unban`) are sanctions underneath.


async def ban_account(
    uow: UnitOfWork,
    runtime: Runtime,
    actor: Principal,
    user: User,
    *,
    reason: str,
    until: dt.datetime | None,
) -> None:
    """Ban `user` (locked by the caller) with a free-text reason: a `ban` sanction that
    replaces the bans in force, so banning again replaces the reason and end."""
    now = utcnow()
    for row in await repository.unlifted_sanctions(uow, user.id):
        if row.type in ACCOUNT_WIDE and in_force(row, now):
            row.lifted_at, row.lifted_by, row.lift_reason = now, actor.actor_id, "replaced"
    row = await _insert(
        uow,
        runtime,
        user,
        actor=actor,
        type_="ban",
        scope="all",
        reason="other",
        message=reason,
        notes=None,
        ends_at=until,
        report_ids=[],
    )
    await _tell_imposed(uow, runtime, row)


async def unban_account(
    uow: UnitOfWork, runtime: Runtime, actor: Principal, user: User, *, reason: str
) -> None:
    """Lift every ban and suspension of `user` (locked by the caller), also a ban placed
    before sanctions existed; the player may sign in again at once."""
    now = utcnow()
    for row in await repository.unlifted_sanctions(uow, user.id):
        if row.type in ACCOUNT_WIDE:
            row.lifted_at, row.lifted_by, row.lift_reason = now, actor.actor_id, reason
    await uow.session.flush()
    await users.lift_ban(uow, user)
    await refresh_account(uow, runtime, user, bans_changed=True)
