"""Wire models of the webhooks domain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from playerplatform.kit.edge import EdgeModel, JsonObject, clean_line
from playerplatform.kit.pagination import CursorKey, CursorText, CursorTime
from playerplatform.webhooks.models import WebhookEvent


class IntakeOut(BaseModel):
    """What a sender gets back: the event's id, and whether it was stored before."""

    event_id: str | None
    duplicate: bool


class WebhookEventOut(BaseModel):
    event_id: str
    provider: str
    message_id: str
    message_type: str
    subscription_type: str | None
    status: str
    attempts: int
    last_error: str | None
    object_key: str
    payload: dict[str, Any]
    sent_at: dt.datetime
    received_at: dt.datetime
    processed_at: dt.datetime | None

    @classmethod
    def of(cls, row: WebhookEvent) -> WebhookEventOut:
        return cls(
            event_id=row.event_id,
            provider=row.provider,
            message_id=row.message_id,
            message_type=row.message_type,
            subscription_type=row.subscription_type,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            object_key=row.object_key,
            payload=row.payload,
            sent_at=row.sent_at,
            received_at=row.received_at,
            processed_at=row.processed_at,
        )


class EventPageKey(CursorKey):
    t: CursorTime
    i: CursorText


# -- What the studio's services send (validated after the signature, before storing). --------


class StudioGrantLine(EdgeModel):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=1_000_000)


class StudioGrant(EdgeModel):
    """`grant` and `revoke` data."""

    canonical_id: str = Field(min_length=1, max_length=64)
    grants: list[StudioGrantLine] = Field(min_length=1, max_length=50)
    reason: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_line)]


class StudioMessage(EdgeModel):
    """`message` data: the admin message body."""

    canonical_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(default="studio", min_length=1, max_length=32)
    title: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_line)]
    body: str = Field(min_length=1, max_length=10_000)
    data: JsonObject | None = None
    attachments: list[StudioGrantLine] | None = Field(default=None, max_length=20)
    expires_at: str | None = Field(default=None, max_length=40)


class StudioEvent(EdgeModel):
    id: str = Field(min_length=1, max_length=255)
    type: Literal["grant", "revoke", "message"]
    data: JsonObject
