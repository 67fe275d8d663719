"""Sessions: creation, listing and revocation, with write-through to the auth state cache."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from playerplatform.auth.models import Session
from playerplatform.auth.state import (
    SESSION_REVOKED,
    UserState,
    publish_session_status,
    publish_user_state,
)
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.hotstore import HotStore
from playerplatform.users.models import User


async def revoke_user_sessions(
    uow: UnitOfWork, hot: HotStore, user: User, *, reason: str
) -> list[str]:
    """Revoke every live session of `user`; their access tokens stop working on the next
    request once `uow` commits. Returns the revoked session ids."""
    result = await uow.session.execute(
        sa.update(Session)
        .where(Session.user_id == user.id, Session.status == "active")
        .values(status="revoked", revoked_at=utcnow(), revoke_reason=reason)
        .returning(Session.public_id)
    )
    sids = [row[0] for row in result]
    publish_session_status(uow, hot, user.canonical_id, sids, SESSION_REVOKED)
    return sids


def publish_user(uow: UnitOfWork, hot: HotStore, user: User) -> None:
    """After commit, every API process sees the user's new status and roles."""
    publish_user_state(uow, hot, user.canonical_id, UserState.of(user))


async def list_user_sessions(uow: UnitOfWork, user_id: uuid.UUID) -> list[Session]:
    result = await uow.session.execute(
        sa.select(Session)
        .where(
            Session.user_id == user_id, Session.status == "active", Session.expires_at > utcnow()
        )
        .order_by(Session.created_at.desc())
    )
    return list(result.scalars())
