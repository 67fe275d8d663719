"""Telling creators what happened to their items: a `moderation` message in their inbox
(pushed to their devices and open sockets as `ugc_decision`), and a mail to their verified
email address when they have one (dev mailbox or SMTP, after the commit). The reason is also
kept on the item (`status_reason`, `status_note`, shown to the creator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailMessage
from playerplatform.messaging.notify import notify
from playerplatform.ugc.models import Ugc
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

TEMPLATE = "ugc_status"
REASONS = {
    "malware": "our virus scanner found malware in the file ({note}). It will never be"
    " served to anyone. If you believe this is a mistake, you can appeal.",
    "unsafe_archive": "the archive is not safe to unpack ({note}). You can appeal.",
    "upload_changed": "the stored file changed after the upload was completed.",
    "rejected": "a moderator did not approve it ({note}). You can appeal.",
    "moderation": "a moderator removed it ({note}). You can appeal.",
    "reported": "players reported it and a moderator upheld the report ({note}). You can appeal.",
}


async def creator_email(uow: UnitOfWork, item: Ugc) -> str | None:
    user = await users.lookup_user(uow, item.creator_id)
    if user is None or not user.email_verified:
        return None
    for identity in await auth.linked_identities(uow, item.creator_id):
        if identity.provider == "email":
            return identity.provider_id
    return None


async def tell_creator(uow: UnitOfWork, runtime: Runtime, item: Ugc, what: str) -> None:
    """Tell the creator about `item` (`what`: `removed`, `published`, `appeal_granted`,
    `appeal_denied`): an inbox message, and a mail when they have a verified address."""
    if what == "removed":
        reason = REASONS.get(item.status_reason or "", "it was removed ({note}).")
        body = f'Your upload "{item.name}" was removed: ' + reason.format(
            note=item.status_note or "no details"
        )
        subject = "Your upload was removed"
    elif what == "published":
        subject, body = "Your upload is live", f'Your upload "{item.name}" is published.'
    elif what == "appeal_granted":
        subject = "Your appeal was granted"
        body = f'Your appeal about "{item.name}" was granted.'
    else:
        subject = "Your appeal was denied"
        body = f'Your appeal about "{item.name}" was denied ({item.status_note or "no notes"}).'
    await notify(
        uow,
        runtime,
        item.creator_id,
        "moderation",
        title=subject,
        body=body,
        data={"ugc_id": item.public_id, "decision": what, "reason": item.status_reason},
        event="ugc_decision",
        channels=("push",),  # the mail below is the email channel, whatever the preference
    )
    address = await creator_email(uow, item)
    if address is None:
        return
    await runtime.mailer.send(
        uow,
        MailMessage(
            to=address,
            subject=subject,
            template=TEMPLATE,
            body_text=f"Hello,\n\n{body}\n\nItem id: {item.public_id}\n",
        ),
    )
