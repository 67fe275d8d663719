"""Wire models of the admin API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from playerplatform.kit.db import utcnow
from playerplatform.kit.pagination import CursorTime
from playerplatform.users.schemas import UserOut

MAX_BAN_YEARS = 100


class SessionOut(BaseModel):
    session_id: str
    provider: str
    created_at: dt.datetime
    refreshed_at: dt.datetime
    expires_at: dt.datetime
    ip: str | None
    user_agent: str | None


class SanctionOut(BaseModel):
    """One ban or unban, from the audit log."""

    action: Literal["ban", "unban"]
    reason: str | None
    until: dt.datetime | None
    actor_id: str
    created_at: dt.datetime


class BanOut(BaseModel):
    reason: str | None
    until: dt.datetime | None


class AdminUserOut(UserOut):
    """The user object plus what staff need. Other domains add sections (entitlements,
    balances, ...) through `admin.service.register_user_detail_section`."""

    model_config = ConfigDict(extra="allow")

    sessions: list[SessionOut]
    sanctions: list[SanctionOut]
    ban: BanOut | None
    entitlements: list[Any] = Field(default_factory=list)
    balances: list[Any] = Field(default_factory=list)


def _reason(value: str) -> str:
    reason = value.strip()
    if not reason:
        raise ValueError("must not be blank")
    return reason


class BanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    until: AwareDatetime | None = Field(
        None, description="RFC 3339 end of the ban, in the future; absent: permanent."
    )

    _clean_reason = field_validator("reason")(_reason)

    @field_validator("until")
    @classmethod
    def _in_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        try:
            until = value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            raise ValueError("is out of range")
        now = utcnow()
        if until <= now:
            raise ValueError("must be in the future")
        if until > now + dt.timedelta(days=365 * MAX_BAN_YEARS):
            raise ValueError(f"must be within {MAX_BAN_YEARS} years; omit it for a permanent ban")
        return until


class UnbanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)

    _clean_reason = field_validator("reason")(_reason)


class RolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Literal["player", "moderator", "admin"]] = Field(max_length=3)


class MailOut(BaseModel):
    to: str
    subject: str
    template: str
    body_text: str
    created_at: dt.datetime


class UserCursor(BaseModel):
    t: CursorTime
    c: str


class MailCursor(BaseModel):
    t: CursorTime
    i: uuid.UUID
