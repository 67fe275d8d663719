"""Telling a player what moderation did: a sanction, its end, an appeal's outcome, a report's
outcome, a reply to their feedback. Every notice goes through `tell`, the one place that
knows how players are reached: a `moderation` message in the player's inbox (with push and a
realtime event, through `notify`), and a mail to the player's verified address (dev mailbox
or SMTP), both only when the change commits.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailMessage
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

TEMPLATE = "safety_notice"


async def _address(uow: UnitOfWork, user_id: uuid.UUID) -> str | None:
    user = await users.lookup_user(uow, user_id)
    if user is None or not user.email_verified:
        return None
    for identity in await auth.linked_identities(uow, user_id):
        if identity.provider == "email":
            return identity.provider_id
    return None


async def tell(
    uow: UnitOfWork,
    runtime: Runtime,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Tell the player `title` / `body` (`kind` names the event: `sanction`,
    `sanction_lifted`, `appeal_decided`, `report_outcome`, `feedback_reply`; `data` holds
    the ids it is about). The inbox always; the mail only to a verified address.
    """
    await runtime.notify(
        uow,
        runtime,
        user_id,
        "moderation",
        title=title,
        body=body,
        data=dict(data or {}),
        event=kind,
        channels=("push",),  # the mail below is the email channel
    )
    address = await _address(uow, user_id)
    if address is None:
        return
    lines = [f"Hello,\n\n{body}\n"]
    for key, value in sorted((data or {}).items()):
        lines.append(f"{key}: {value}")
    await runtime.mailer.send(
        uow,
        MailMessage(
            to=address,
            subject=title,
            template=f"{TEMPLATE}:{kind}",
            body_text="\n".join(lines) + "\n",
        ),
    )
