"""Telling creators what happened to their items. There is no inbox yet: the reason is kept on
the item (`status_reason`, `status_note`, shown to the creator) and a mail goes to the
creator's verified email address when they have one (dev mailbox or SMTP, after the commit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailMessage
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
    """Mail the creator about `item` (`what`: `removed`, `published`, `appeal_granted`,
    `appeal_denied`), when they have a verified address."""
    address = await creator_email(uow, item)
    if address is None:
        return
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
    await runtime.mailer.send(
        uow,
        MailMessage(
            to=address,
            subject=subject,
            template=TEMPLATE,
            body_text=f"Hello,\n\n{body}\n\nItem id: {item.public_id}\n",
        ),
    )
