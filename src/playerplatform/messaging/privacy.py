"""The messaging domain's part of a player's data export and erasure: the inbox, the
notification preferences, the push tokens and the realtime events, all deleted on erasure
(nothing of them is kept for the studio); other players' messages that name the player keep
their place with the name blanked."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.owned_rows import delete_rows, export_rows, scrub_mentions
from playerplatform.messaging.models import (
    InboxMessage,
    NotificationPreferences,
    PushToken,
    RealtimeEvent,
)

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

OWNED = {
    "inbox_messages": InboxMessage,
    "notification_preferences": NotificationPreferences,
    "push_tokens": PushToken,
    "realtime_events": RealtimeEvent,
}
TABLES = tuple(OWNED)


async def export_messaging(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> dict[str, list[dict[str, Any]]]:
    return {
        name: await export_rows(uow, model, "user_id", user_id) for name, model in OWNED.items()
    }


async def erase_messaging(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """The player's own rows go; other players' messages and events that name them (a friend
    request, say) keep their place with the name blanked."""
    for model in OWNED.values():
        await delete_rows(uow, model, "user_id", subject.user_id)
    for model, columns in ((InboxMessage, ("title", "body", "data")), (RealtimeEvent, ("data",))):
        await scrub_mentions(
            uow, model, columns, subject.personal, subject.canonical_id, subject.pseudonym
        )
