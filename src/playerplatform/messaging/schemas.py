"""Wire models of messaging: inbox messages, staff sending, broadcasts, preferences, push
tokens."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from playerplatform.kit.edge import EdgeModel, JsonObject, Timestamp
from playerplatform.users.schemas import CANONICAL_ID_PATTERN
from playerplatform.users.segments import Segment

Kind = Literal["system", "gift", "reward", "moderation", "commerce", "social", "drop"]
KINDS: tuple[str, ...] = ("system", "gift", "reward", "moderation", "commerce", "social", "drop")
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_QUANTITY = 1000
MAX_TITLE = 200
MAX_BODY = 4000
MAX_LOCALES = 40
_SKU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


def _sku_id(value: str) -> str:
    if not _SKU_ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
    return value


def _localized(limit: int) -> Any:
    def check(value: str | dict[str, str]) -> dict[str, str]:
        texts = {"en": value} if isinstance(value, str) else value
        if "en" not in texts:
            raise ValueError("needs an 'en' text (the fallback for every other locale)")
        if len(texts) > MAX_LOCALES:
            raise ValueError(f"at most {MAX_LOCALES} locales")
        for locale, text in texts.items():
            if not _LOCALE.fullmatch(locale):
                raise ValueError(f"'{locale[:20]}' is not a BCP 47 language tag")
            if not text.strip() or len(text) > limit:
                raise ValueError(f"each text must be 1-{limit} characters")
        return texts

    return AfterValidator(check)


Title = Annotated[str | dict[str, str], _localized(MAX_TITLE)]
Body = Annotated[str | dict[str, str], _localized(MAX_BODY)]


class Attachment(EdgeModel):
    """A SKU line: `quantity` counts SKUs as a purchase or an admin grant does."""

    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=MAX_ATTACHMENT_QUANTITY)

    _check_id = field_validator("sku_id")(_sku_id)


Attachments = Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS)]


class MessageOut(BaseModel):
    message_id: str
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    attachments: list[dict[str, Any]]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    read_at: dt.datetime | None
    claimed_at: dt.datetime | None


class InboxPage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None = None
    unread_count: int


class ClaimOut(BaseModel):
    message: MessageOut
    entitlements: list[dict[str, Any]]
    balances: list[dict[str, Any]]


class StaffMessageIn(EdgeModel):
    """`POST /admin/messages`: one message to one player."""

    canonical_id: str = Field(pattern=CANONICAL_ID_PATTERN)
    kind: Kind
    title: Title
    body: Body
    data: JsonObject | None = None
    attachments: Attachments = []
    expires_at: Timestamp | None = None


class BroadcastIn(EdgeModel):
    """`POST /admin/broadcasts`: everyone, or a segment; now or at `send_at`."""

    kind: Kind
    title: Title
    body: Body
    data: JsonObject | None = None
    attachments: Attachments = []
    segment: Segment | None = None
    send_at: Timestamp | None = None
    expires_at: Timestamp | None = None


class BroadcastOut(BaseModel):
    broadcast_id: str
    kind: str
    title: dict[str, str]
    body: dict[str, str]
    data: dict[str, Any]
    attachments: list[dict[str, Any]]
    segment: dict[str, Any]
    status: Literal["scheduled", "sent", "cancelled"]
    send_at: dt.datetime
    expires_at: dt.datetime | None
    created_by: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    recipients: int | None = None
    read: int | None = None
    claimed: int | None = None


class ChannelsIn(EdgeModel):
    inbox: Literal[True] = True
    email: bool
    push: bool


class ChannelsOut(BaseModel):
    inbox: bool = True
    email: bool
    push: bool


class PreferencesIn(EdgeModel):
    """Per kind; kinds not sent keep their current channels."""

    system: ChannelsIn | None = None
    gift: ChannelsIn | None = None
    reward: ChannelsIn | None = None
    moderation: ChannelsIn | None = None
    commerce: ChannelsIn | None = None
    social: ChannelsIn | None = None
    drop: ChannelsIn | None = None


class PushTokenIn(EdgeModel):
    platform: Literal["fcm", "apns"]
    token: str = Field(min_length=8, max_length=512, pattern=r"^[A-Za-z0-9_:.\-]+$")
    app_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")


class PushTokenOut(BaseModel):
    token_id: str
    platform: str
    app_id: str | None
    created_at: dt.datetime
