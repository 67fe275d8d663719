"""Delivering an inbox message to a player's other channels (the `notify` job)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import structlog

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import MailMessage
from playerplatform.messaging import preferences, repository
from playerplatform.messaging.notify import localize
from playerplatform.messaging.push import PushNote
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.messaging")
TEMPLATE = "inbox_message"


async def verified_email(uow: UnitOfWork, user_id: object) -> str | None:
    user = await users.lookup_user(uow, user_id)  # type: ignore[arg-type]
    if user is None or not user.email_verified:
        return None
    for identity in await auth.linked_identities(uow, user.id):
        if identity.provider == "email":
            return identity.provider_id
    return None


async def deliver(
    uow: UnitOfWork, rt: Runtime, message_id: str, allowed: Collection[str] = ("email", "push")
) -> dict[str, int]:
    """Email and push for one message, by the player's preferences (and among `allowed`);
    returns what was sent (`email`, `push`, `dead` devices forgotten)."""
    sent = {"email": 0, "push": 0, "dead": 0}
    message = await repository.message_by_public_id(uow, message_id)
    if message is None or message.deleted_at is not None:
        return sent
    chosen = (await preferences.channels_of(uow, rt.settings, message.user_id))[message.kind]
    wanted = {name: chosen[name] and name in allowed for name in ("email", "push")}
    locale = await users.profile_locale(uow, message.user_id)
    title, body = localize(message.title, locale), localize(message.body, locale)
    dead: list[tuple[str, str]] = []
    if wanted["push"]:
        note = PushNote(
            title=title, body=body, data={"message_id": message_id, "kind": message.kind}
        )
        for device in await repository.push_tokens_of(uow, message.user_id):
            outcome = await rt.push.send(device.platform, device.token, note)
            if outcome == "sent":
                sent["push"] += 1
            elif outcome == "dead":
                dead.append((device.platform, device.token))
    for platform, token in dead:  # writes only after the slow calls
        await repository.drop_dead_token(uow, platform, token)
        sent["dead"] += 1
    if wanted["email"]:
        address = await verified_email(uow, message.user_id)
        if address is not None:
            await rt.mailer.send(
                uow,
                MailMessage(
                    to=address,
                    subject=title,
                    template=TEMPLATE,
                    body_text=f"Hello,\n\n{body}\n\nOpen the game to see your inbox.\n",
                ),
            )
            sent["email"] += 1
    log.info("notification_delivered", message_id=message_id, **sent)
    return sent
