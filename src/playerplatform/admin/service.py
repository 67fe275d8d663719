"""Staff rules over accounts: search, the detail view, bans, roles, the dev mailbox and the
audit log reader. Who may act on whom is decided here; the users domain changes the rows, the
auth domain ends sessions and publishes the new state, and every write is audited in the same
unit of work.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from playerplatform.admin import repository
from playerplatform.admin.schemas import (
    AdminUserOut,
    BanIn,
    BanOut,
    MailCursor,
    MailOut,
    RolesIn,
    SanctionOut,
    SessionOut,
    UnbanIn,
    UserCursor,
)
from playerplatform.audit import service as audit
from playerplatform.auth import sessions
from playerplatform.auth.deps import Principal
from playerplatform.auth.providers import device_key, masked_provider_id
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.safety import sanctions as safety
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import UserOut

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

SANCTION_ACTIONS = ("user.ban", "user.unban")
SANCTION_HISTORY = 50
STAFF_ROLES = frozenset({"moderator", "admin"})

# Sections other domains contribute to the user detail (declared in the wiring) that the
# detail's schema lists, so that they are documented; any other name must not be a field.
SECTION_FIELDS = ("entitlements", "balances")


def check_section_name(name: str) -> None:
    """Refuse a contributed section that would overwrite a built-in field of the detail."""
    if name in AdminUserOut.model_fields and name not in SECTION_FIELDS:
        raise ValueError(f"{name!r} is a built-in field of the user detail")


class CannotDemoteSelf(ValidationFailed):
    code, title = "cannot_demote_self", "Cannot remove your own admin role"


# -- Reading. -------------------------------------------------------------------------------


async def search_users(
    uow: UnitOfWork, q: str | None, page: PageParams, *, status: str | None = None
) -> Page[UserOut]:
    """Accounts matching `q` (canonical id or prefix, email, provider id, display name) and
    `status`, newest first; every account when both are empty."""
    after = decode_cursor(page.cursor, UserCursor)
    q = (q or "").strip()
    rows = await repository.search_users(
        uow, q, device=device_key(q), status=status, after=after, limit=page.limit + 1
    )
    identities = await repository.identities_of(uow, [user.id for user, _ in rows[: page.limit]])
    return paginate(
        rows,
        page.limit,
        lambda row: UserCursor(t=row[0].created_at, c=row[0].canonical_id),
        lambda row: _for_staff(users.user_out(row[0], row[1], identities.get(row[0].id, []))),
    )


def _for_staff(user: UserOut) -> UserOut:
    """The user object as staff see it: device ids only as fingerprints."""
    for identity in user.identities:
        identity.provider_id = masked_provider_id(identity.provider, identity.provider_id)
    return user


def _sanction(entry: Any) -> SanctionOut:
    new = entry.new_values or {}
    until = new.get("banned_until") if entry.action == "user.ban" else None
    return SanctionOut(
        action="ban" if entry.action == "user.ban" else "unban",
        reason=new.get("ban_reason") if entry.action == "user.ban" else new.get("reason"),
        until=dt.datetime.fromisoformat(until) if until else None,
        actor_id=entry.actor_id,
        created_at=entry.created_at,
    )


async def user_detail(uow: UnitOfWork, rt: Runtime, canonical_id: str) -> AdminUserOut:
    """The user object plus live sessions, ban state and history, and the sections other
    domains contribute (`rt.wiring`). Merged accounts are shown too (status `merged`)."""
    user = await users.find_by_canonical(uow, canonical_id)
    base = _for_staff((await users.user_view(uow, user.id)).model_copy(deep=True))
    live = await sessions.list_user_sessions(uow, user.id)
    history = await audit.entries_about(
        uow,
        resource_type="user",
        resource_id=user.canonical_id,
        actions=SANCTION_ACTIONS,
        limit=SANCTION_HISTORY,
    )
    sections: dict[str, Any] = {name: [] for name in SECTION_FIELDS}
    for section in rt.wiring.user_detail_sections:
        sections[section.name] = await section.load(uow, user.id)
    return AdminUserOut(
        **base.model_dump(),
        sessions=[
            SessionOut(
                session_id=s.public_id,
                provider=s.provider,
                created_at=s.created_at,
                refreshed_at=s.refreshed_at,
                expires_at=s.expires_at,
                ip=s.ip,
                user_agent=s.user_agent,
            )
            for s in live
        ],
        sanctions=[_sanction(entry) for entry in history],
        ban=BanOut(reason=user.ban_reason, until=user.banned_until)
        if user.status == "banned"
        else None,
        **sections,
    )


async def read_mailbox(uow: UnitOfWork, to: str | None, page: PageParams) -> Page[MailOut]:
    """The dev mailbox, newest first."""
    after = decode_cursor(page.cursor, MailCursor)
    rows = await repository.list_mail(uow, to, after=after, limit=page.limit + 1)
    return paginate(
        rows,
        page.limit,
        lambda m: MailCursor(t=m.created_at, i=m.id),
        lambda m: MailOut(
            to=m.to_address,
            subject=m.subject,
            template=m.template,
            body_text=m.body_text,
            created_at=m.created_at,
        ),
    )


# -- Writing. -------------------------------------------------------------------------------


def _ban_state(user: User) -> dict[str, Any]:
    return {
        "status": user.status,
        "banned_until": user.banned_until.isoformat() if user.banned_until else None,
        "ban_reason": user.ban_reason,
    }


async def ban_user(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    canonical_id: str,
    ban: BanIn,
    client: ClientInfo,
) -> AdminUserOut:
    """Ban an account (until a time, or permanently): every session ends and the account is
    refused from its very next request. Banning again replaces the reason and end. The ban
    is a `ban` sanction underneath (`playerplatform.safety.sanctions`)."""
    user = await users.lock_account(uow, canonical_id)
    safety.may_sanction(actor, user)
    old = _ban_state(user)
    await safety.ban_account(uow, rt, actor, user, reason=ban.reason, until=ban.until)
    await audit.record(
        uow,
        action="user.ban",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        old=old,
        new=_ban_state(user),
        client=client,
    )
    return await user_detail(uow, rt, user.canonical_id)


async def unban_user(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    canonical_id: str,
    unban: UnbanIn,
    client: ClientInfo,
) -> AdminUserOut:
    """Lift a ban (also one that has run out); the player can sign in again at once. Every
    ban and suspension sanction of the account is lifted."""
    user = await users.lock_account(uow, canonical_id)
    safety.may_sanction(actor, user)
    old = _ban_state(user)
    await safety.unban_account(uow, rt, actor, user, reason=unban.reason)
    await audit.record(
        uow,
        action="user.unban",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        old=old,
        new={**_ban_state(user), "reason": unban.reason},
        client=client,
    )
    return await user_detail(uow, rt, user.canonical_id)


async def change_roles(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    canonical_id: str,
    change: RolesIn,
    client: ClientInfo,
) -> AdminUserOut:
    """Set an account's roles (`player` is always kept). A demotion applies to the tokens
    already issued on their next request; an admin cannot drop their own admin role."""
    user = await users.lock_account(uow, canonical_id)
    if user.canonical_id == actor.subject and "admin" not in change.roles:
        raise CannotDemoteSelf("You cannot remove your own admin role.", field="roles")
    old = {"roles": list(user.roles)}
    roles = await users.assign_roles(uow, user, change.roles)
    sessions.publish_user(uow, rt.hot, user)
    await audit.record(
        uow,
        action="user.roles_change",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        old=old,
        new={"roles": roles},
        client=client,
    )
    return await user_detail(uow, rt, user.canonical_id)
