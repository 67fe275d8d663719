"""The auth domain's part of a player's data export and erasure: identities, sessions, email
tokens and the history of links. Erasure signs the player out everywhere and deletes their
identities, which releases each platform account (the same Steam account can start fresh)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.auth.models import AccountLink, EmailToken, Identity, Session
from playerplatform.auth.sessions import publish_user, revoke_user_sessions
from playerplatform.kit.db import UnitOfWork
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("identities", "sessions", "email_tokens", "account_links")


async def export_auth(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    identities = await _all(uow, sa.select(Identity).where(Identity.user_id == user_id))
    sessions = await _all(
        uow, sa.select(Session).where(Session.user_id == user_id).order_by(Session.created_at)
    )
    links = await _all(
        uow,
        sa.select(AccountLink)
        .where(AccountLink.user_id == user_id)
        .order_by(AccountLink.created_at),
    )
    return {
        "identities": [
            {
                "provider": i.provider,
                "provider_id": i.provider_id,
                "linked_at": i.linked_at,
                "last_login_at": i.last_login_at,
            }
            for i in identities
        ],
        "sessions": [
            {
                "session_id": s.public_id,
                "provider": s.provider,
                "status": s.status,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "created_at": s.created_at,
                "refreshed_at": s.refreshed_at,
                "revoked_at": s.revoked_at,
            }
            for s in sessions
        ],
        "link_history": [
            {
                "provider": a.provider,
                "provider_id": a.provider_id,
                "action": a.action,
                "created_at": a.created_at,
            }
            for a in links
        ],
    }


async def erase_auth(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """Sign out everywhere, then delete sessions, identities, email tokens and link history
    (those naming the player on another account's side too)."""
    user = await users.get_user(uow, subject.user_id)
    await revoke_user_sessions(uow, runtime.hot, user, reason="erased")
    for table, column in (
        (Session, Session.user_id),
        (Identity, Identity.user_id),
        (EmailToken, EmailToken.user_id),
        (AccountLink, AccountLink.user_id),
    ):
        await uow.session.execute(sa.delete(table).where(column == subject.user_id))
    await uow.session.execute(
        sa.delete(AccountLink).where(AccountLink.provider_id.in_(subject.identifiers))
    )


async def personal_ids(uow: UnitOfWork, user_id: uuid.UUID) -> list[str]:
    """The player's provider ids (email addresses included) and the emails their tokens
    were sent to: what must not survive an erasure anywhere."""
    ids = await uow.session.execute(
        sa.select(Identity.provider_id).where(Identity.user_id == user_id)
    )
    linked = await uow.session.execute(
        sa.select(AccountLink.provider_id).where(AccountLink.user_id == user_id)
    )
    emails = await uow.session.execute(
        sa.select(EmailToken.email).where(EmailToken.user_id == user_id)
    )
    return sorted({*ids.scalars(), *linked.scalars(), *emails.scalars()})


async def signed_in_since(uow: UnitOfWork, user_id: uuid.UUID, since: dt.datetime) -> bool:
    """Whether the player started a session (signed in) after `since`."""
    found = await uow.session.execute(
        sa.select(Session.id).where(Session.user_id == user_id, Session.created_at > since).limit(1)
    )
    return found.first() is not None


async def sign_out_everywhere(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> None:
    user = await users.get_user(uow, user_id)
    await revoke_user_sessions(uow, runtime.hot, user, reason="erasure_requested")


async def publish_erased(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> None:
    """After the users domain renamed the account: every process sees its new state."""
    publish_user(uow, runtime.hot, await users.get_user(uow, user_id))


async def _all(uow: UnitOfWork, query: Any) -> list[Any]:
    return list((await uow.session.execute(query)).scalars())


async def email_of(uow: UnitOfWork, user_id: uuid.UUID) -> str | None:
    """The address the player signs in with, when they have one."""
    found = await uow.session.execute(
        sa.select(Identity.provider_id)
        .where(Identity.user_id == user_id, Identity.provider == "email")
        .limit(1)
    )
    return found.scalar_one_or_none()
