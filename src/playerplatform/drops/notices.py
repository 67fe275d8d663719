"""Telling a player something: the one function the drops and webhooks domains call.

A notice goes to the player's inbox (with push and a realtime event, through messaging's
`notify`), to the log, and by mail to the player's verified address when they have one (dev
mailbox or SMTP), all once the caller's transaction commits.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailMessage
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.drops")
TEMPLATE = "player_notice"


async def notify(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Tell the player `title`/`body` (`kind`: `drop_granted`, `studio`, ...), once the
    caller's transaction commits."""
    user = await users.lookup_user(uow, user_id)
    if user is None:
        return
    # The inbox (with push and a realtime event); the mail below is the email channel.
    await rt.notify(
        uow,
        rt,
        user_id,
        "drop" if kind.startswith("drop") else "system",
        title=title,
        body=body,
        data=dict(data or {}),
        event=kind,
        channels=("push",),
    )
    log.info("player_notice", canonical_id=user.canonical_id, kind=kind, title=title, data=data)
    if not user.email_verified:
        return
    address = next(
        (
            i.provider_id
            for i in await auth.linked_identities(uow, user_id)
            if i.provider == "email"
        ),
        None,
    )
    if address is None:
        return
    await rt.mailer.send(
        uow,
        MailMessage(to=address, subject=title, template=TEMPLATE, body_text=f"Hello,\n\n{body}\n"),
    )
