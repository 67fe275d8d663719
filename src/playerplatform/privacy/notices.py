"""What the player is told about their data: the one function every notice goes through.
A `system` message in the player's inbox (with push, through messaging's `notify`) and a mail
to the address the player signs in with, when they have one; the export's link is also
listed at `GET /users/me/privacy-requests`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from playerplatform.auth import privacy as auth_privacy
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailTemplate

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

EXPORT_READY = MailTemplate(
    name="privacy_export_ready",
    subject="Your data export is ready",
    body=(
        "The copy of your data you asked for is ready. Download it here (the link expires"
        " at $expires_at):\n\n$url\n"
    ),
)
ERASURE_SCHEDULED = MailTemplate(
    name="privacy_erasure_scheduled",
    subject="Your account will be erased",
    body=(
        "You asked us to erase your account. It will be erased at $erase_at. You were signed"
        " out everywhere; signing in again before then cancels the erasure.\n"
    ),
)


async def notify_player(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID, notice: MailTemplate, **context: object
) -> None:
    """Tell the player (sent once `uow` commits)."""
    email = await auth_privacy.email_of(uow, user_id)
    message = notice.render(email or "", **context)
    await runtime.notify(
        uow,
        runtime,
        user_id,
        "system",
        title=message.subject,
        body=message.body_text,
        event=notice.name,
        channels=("push",),  # the mail below is the email channel
    )
    if email is not None:
        await runtime.mailer.send(uow, message)
