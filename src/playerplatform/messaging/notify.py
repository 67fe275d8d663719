"""`notify`: the one call every domain makes to tell a player something (docs/messaging.md).

It writes the inbox message in the caller's transaction, records a realtime event for the
player's sockets (published once the transaction commits), and queues one
`notification_send` job (kind `notify`) that delivers the message to the player's other
channels by their preferences. A `key` makes all of it happen once: a retried job, a doubled
season close or a replayed request finds the message the first call wrote.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from playerplatform.commerce import grants as commerce
from playerplatform.jobs.service import enqueue
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import ValidationFailed
from playerplatform.messaging import repository
from playerplatform.messaging.models import InboxMessage
from playerplatform.messaging.schemas import KINDS, MessageOut
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

NOTIFY_QUEUE = "notification_send"
NOTIFY_KIND = "notify"
FALLBACK_LOCALE = "en"


def new_message_id() -> str:
    return "m" + secrets.token_hex(12)


def texts(value: str | Mapping[str, str]) -> dict[str, str]:
    """A per-locale map from a plain English text or a map that has `en`."""
    found = {FALLBACK_LOCALE: value} if isinstance(value, str) else dict(value)
    if FALLBACK_LOCALE not in found:
        raise ValidationFailed("Titles and bodies need an 'en' text.", field="title")
    return found


def localize(values: Mapping[str, str], locale: str | None) -> str:
    """The text for `locale`: exact tag, then its language (`pt` for `pt-BR`), then `en`."""
    if locale:
        exact = values.get(locale)
        if exact is not None:
            return exact
        lowered = {k.lower(): v for k, v in values.items()}
        for tag in (locale.lower(), locale.split("-")[0].lower()):
            if tag in lowered:
                return lowered[tag]
    fallback = values.get(FALLBACK_LOCALE)
    return fallback if fallback is not None else next(iter(values.values()), "")


def message_out(row: InboxMessage, locale: str | None) -> MessageOut:
    return MessageOut(
        message_id=row.message_id,
        kind=row.kind,
        title=localize(row.title, locale),
        body=localize(row.body, locale),
        data=row.data or {},
        attachments=list(row.attachments or []),
        created_at=row.created_at,
        expires_at=row.expires_at,
        read_at=row.read_at,
        claimed_at=row.claimed_at,
    )


def attachment_lines(attachments: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [
        {"sku_id": str(a["sku_id"]), "quantity": int(a.get("quantity", 1))}
        for a in attachments or ()
    ]


def message_row(
    user_id: uuid.UUID,
    kind: str,
    *,
    title: Mapping[str, str],
    body: Mapping[str, str],
    data: Mapping[str, Any] | None,
    attachments: list[dict[str, Any]],
    key: str | None,
    expires_at: dt.datetime | None,
    broadcast_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "id": new_uuid(),
        "message_id": new_message_id(),
        "user_id": user_id,
        "kind": kind,
        "title": dict(title),
        "body": dict(body),
        "data": dict(data or {}),
        "attachments": attachments,
        "broadcast_id": broadcast_id,
        "dedupe_key": key,
        "created_at": now or utcnow(),
        "expires_at": expires_at,
        "read_at": None,
        "claimed_at": None,
        "deleted_at": None,
    }


async def notify(
    uow: UnitOfWork,
    runtime: Runtime,
    user_id: uuid.UUID,
    kind: str,
    *,
    title: str | Mapping[str, str],
    body: str | Mapping[str, str],
    data: Mapping[str, Any] | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
    key: str | None = None,
    expires_at: dt.datetime | None = None,
    event: str | None = None,
    channels: Sequence[str] = ("email", "push"),
) -> str:
    """Put a message in `user_id`'s inbox and queue its delivery to the player's other
    channels (email, push) and open sockets; returns the message id. In the caller's
    transaction: nothing is sent if it rolls back. With `key`, a second call writes nothing
    and returns the first message's id. `channels` narrows delivery (a domain that mails
    its own notice passes `("push",)`). Attachments are checked now (unknown or inactive SKU,
    bad quantity: `ValidationFailed`) so a claim never fails on the catalog."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    if key is not None:
        existing = await repository.message_by_key(uow, key)
        if existing is not None:
            return existing.message_id
    lines = attachment_lines(attachments)
    if lines:
        await commerce.check_lines(uow, lines, field="attachments")
    row = message_row(
        user_id,
        kind,
        title=texts(title),
        body=texts(body),
        data=data,
        attachments=lines,
        key=key[:255] if key else None,
        expires_at=expires_at,
    )
    if not await repository.insert_message(uow, row):  # a concurrent call with the same key
        existing = await repository.message_by_key(uow, str(key))
        return existing.message_id if existing else row["message_id"]
    views.changed(uow, f"inbox:{user_id.hex}")  # `inbox.inbox_owner`
    message = InboxMessage(**row)
    locale = await users.profile_locale(uow, user_id)
    frame = message_out(message, locale).model_dump(mode="json")
    await raise_event(uow, runtime, user_id, event or "message", frame)
    await enqueue(
        uow,
        NOTIFY_QUEUE,
        {
            "kind": NOTIFY_KIND,
            "message_id": row["message_id"],
            "user_id": str(user_id),
            "channels": list(channels),
        },
    )
    return str(row["message_id"])


async def raise_event(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID, type_: str, data: dict[str, Any]
) -> int:
    """Record a realtime event for the player (kept for `?after=` replay) and publish it to
    their sockets, on every API process, once the transaction commits."""
    event_id = await repository.insert_event(uow, user_id, type_, data, utcnow())
    frame = {"type": type_, "id": str(event_id), "data": data}

    async def publish() -> None:
        await runtime.realtime.publish(user_id, frame)

    uow.after_commit(publish)
    return event_id
