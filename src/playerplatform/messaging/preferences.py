"""Which channels a player wants per kind of message (the inbox always; email and push by
choice), and the devices push reaches."""

from __future__ import annotations

import secrets
import uuid

import orjson

from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import NotFound
from playerplatform.kit.settings import Settings
from playerplatform.kit.views import Views
from playerplatform.messaging import repository
from playerplatform.messaging.models import preferences_owner
from playerplatform.messaging.schemas import KINDS, PreferencesIn, PushTokenIn, PushTokenOut

Channels = dict[str, dict[str, bool]]


def _with_defaults(settings: Settings, stored: dict[str, object]) -> Channels:
    channels: Channels = {}
    for kind in KINDS:
        chosen = stored.get(kind)
        chosen = chosen if isinstance(chosen, dict) else {}
        channels[kind] = {
            "inbox": True,
            "email": bool(chosen.get("email", settings.messaging_default_email)),
            "push": bool(chosen.get("push", settings.messaging_default_push)),
        }
    return channels


async def channels_of(uow: UnitOfWork, settings: Settings, user_id: uuid.UUID) -> Channels:
    """Per kind, the player's channels (defaults where they chose nothing)."""
    return _with_defaults(settings, await repository.get_preferences(uow, user_id))


async def channels_json(
    uow: UnitOfWork, views: Views, settings: Settings, user_id: uuid.UUID
) -> bytes:
    """`channels_of`, encoded, from the player's cached view: renewed when they save theirs
    (the view is named after the defaults, so a deployment that changes them reads anew)."""

    async def load() -> bytes:
        return orjson.dumps(await channels_of(uow, settings, user_id))

    defaults = f"{int(settings.messaging_default_email)}{int(settings.messaging_default_push)}"
    return await views.read(preferences_owner(user_id), f"channels:{defaults}", load)


async def save_channels(
    uow: UnitOfWork, settings: Settings, user_id: uuid.UUID, body: PreferencesIn
) -> Channels:
    """Change the kinds sent; the others keep their channels."""
    stored = await repository.get_preferences(uow, user_id)
    for kind in body.model_fields_set:
        channels = getattr(body, kind)
        if channels is None:
            stored.pop(kind, None)
        else:
            stored[kind] = {"email": channels.email, "push": channels.push}
    await repository.save_preferences(uow, user_id, stored, utcnow())
    return _with_defaults(settings, stored)


async def register_token(uow: UnitOfWork, user_id: uuid.UUID, body: PushTokenIn) -> PushTokenOut:
    """Register a device; the same token registered again (or by another account signed
    in on the device) moves to this player."""
    token = await repository.upsert_push_token(
        uow,
        {
            "id": new_uuid(),
            "token_id": "t" + secrets.token_hex(12),
            "user_id": user_id,
            "platform": body.platform,
            "token": body.token,
            "app_id": body.app_id,
            "created_at": utcnow(),
        },
    )
    return PushTokenOut(
        token_id=token.token_id,
        platform=token.platform,
        app_id=token.app_id,
        created_at=token.created_at,
    )


async def forget_token(uow: UnitOfWork, user_id: uuid.UUID, token_id: str) -> None:
    if not await repository.delete_push_token(uow, user_id, token_id):
        raise NotFound("No such push token.")
