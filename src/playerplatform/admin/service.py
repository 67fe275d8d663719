"""Staff rules over accounts: search, the detail view, bans, roles, the dev mailbox and the
audit log reader. Who may act on whom is decided here; the users domain changes the rows, the
auth domain ends sessions and publishes the new state, and every write is audited in the same
unit of work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

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
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import Forbidden, ValidationFailed
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import UserOut

SANCTION_ACTIONS = ("user.ban", "user.unban")
SANCTION_HISTORY = 50
STAFF_ROLES = frozenset({"moderator", "admin"})

# -- Detail sections other domains contribute (commerce: entitlements, balances). ----------

SectionLoader = Callable[[UnitOfWork, uuid.UUID], Awaitable[Any]]
_detail_sections: dict[str, SectionLoader] = {}


def register_user_detail_section(name: str, loader: SectionLoader) -> None:
    """Add `name` to the admin user detail, filled by `await loader(uow, user_id)`. Call at
    import time of the contributing domain; registering a name again replaces its loader."""
    if name in AdminUserOut.model_fields and name not in ("entitlements", "balances"):
        raise ValueError(f"{name!r} is a built-in field of the user detail")
    _detail_sections[name] = loader


class CannotSanctionSelf(ValidationFailed):
    code, title = "cannot_sanction_self", "Cannot ban or unban yourself"


class CannotDemoteSelf(ValidationFailed):
    code, title = "cannot_demote_self", "Cannot remove your own admin role"


# -- Reading. -------------------------------------------------------------------------------


async def search_users(uow: UnitOfWork, q: str | None, page: PageParams) -> Page[UserOut]:
    """Accounts matching `q` (canonical id or prefix, email, provider id, display name),
    newest first; every account when `q` is empty."""
    after = decode_cursor(page.cursor, UserCursor)
    rows = await repository.search_users(uow, (q or "").strip(), after=after, limit=page.limit + 1)
    identities = await repository.identities_of(uow, [user.id for user, _ in rows[: page.limit]])
    return paginate(
        rows,
        page.limit,
        lambda row: UserCursor(t=row[0].created_at, c=row[0].canonical_id),
        lambda row: users.user_out(row[0], row[1], identities.get(row[0].id, [])),
    )


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


async def user_detail(uow: UnitOfWork, canonical_id: str) -> AdminUserOut:
    """The user object plus live sessions, ban state and history, and registered sections.
    Merged accounts are shown too (status `merged`)."""
    user = await users.find_by_canonical(uow, canonical_id)
    base = await users.user_view(uow, user.id)
    live = await sessions.list_user_sessions(uow, user.id)
    history = await audit.entries_about(
        uow,
        resource_type="user",
        resource_id=user.canonical_id,
        actions=SANCTION_ACTIONS,
        limit=SANCTION_HISTORY,
    )
    sections: dict[str, Any] = {"entitlements": [], "balances": []}
    for name, loader in _detail_sections.items():
        sections[name] = await loader(uow, user.id)
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


def _may_sanction(actor: Principal, target: User) -> None:
    if target.canonical_id == actor.subject:
        raise CannotSanctionSelf("Staff cannot ban or unban themselves.", field="canonical_id")
    if STAFF_ROLES & set(target.roles) and not actor.has_role("admin"):
        raise Forbidden("Only an admin may ban or unban a moderator or an admin.")


def _ban_state(user: User) -> dict[str, Any]:
    return {
        "status": user.status,
        "banned_until": user.banned_until.isoformat() if user.banned_until else None,
        "ban_reason": user.ban_reason,
    }


async def ban_user(
    uow: UnitOfWork,
    hot: HotStore,
    *,
    actor: Principal,
    canonical_id: str,
    ban: BanIn,
    client: ClientInfo,
) -> AdminUserOut:
    """Ban an account (until a time, or permanently): every session ends and the account is
    refused from its very next request. Banning again replaces the reason and end."""
    user = await users.lock_account(uow, canonical_id)
    _may_sanction(actor, user)
    old = _ban_state(user)
    await users.apply_ban(uow, user, reason=ban.reason, until=ban.until)
    await sessions.revoke_user_sessions(uow, hot, user, reason="ban")
    sessions.publish_user(uow, hot, user)
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
    return await user_detail(uow, user.canonical_id)


async def unban_user(
    uow: UnitOfWork,
    hot: HotStore,
    *,
    actor: Principal,
    canonical_id: str,
    unban: UnbanIn,
    client: ClientInfo,
) -> AdminUserOut:
    """Lift a ban (also one that has run out); the player can sign in again at once."""
    user = await users.lock_account(uow, canonical_id)
    _may_sanction(actor, user)
    old = _ban_state(user)
    await users.lift_ban(uow, user)
    sessions.publish_user(uow, hot, user)
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
    return await user_detail(uow, user.canonical_id)


async def change_roles(
    uow: UnitOfWork,
    hot: HotStore,
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
    sessions.publish_user(uow, hot, user)
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
    return await user_detail(uow, user.canonical_id)
