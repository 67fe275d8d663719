"""Wire models of the admin API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from playerplatform.kit.db import utcnow
from playerplatform.kit.edge import EdgeModel, Timestamp, clean_line
from playerplatform.kit.pagination import CursorKey, CursorText, CursorTime
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
    """The user object plus what staff need, and the sections other domains add
    (entitlements, balances, ...)."""

    model_config = ConfigDict(extra="allow")

    sessions: list[SessionOut]
    sanctions: list[SanctionOut]
    ban: BanOut | None
    entitlements: list[Any] = Field(default_factory=list)
    balances: list[Any] = Field(default_factory=list)


Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(clean_line)]


class BanIn(EdgeModel):
    reason: Reason
    until: Timestamp | None = Field(
        None, description="RFC 3339 end of the ban, in the future; absent: permanent."
    )

    @field_validator("until")
    @classmethod
    def _in_future(cls, until: dt.datetime | None) -> dt.datetime | None:
        if until is None:
            return None
        now = utcnow()
        if until <= now:
            raise ValueError("must be in the future")
        if until > now + dt.timedelta(days=365 * MAX_BAN_YEARS):
            raise ValueError(f"must be within {MAX_BAN_YEARS} years; omit it for a permanent ban")
        return until


class UnbanIn(EdgeModel):
    reason: Reason


class RolesIn(EdgeModel):
    roles: list[Literal["player", "moderator", "admin"]] = Field(max_length=3)


class MailOut(BaseModel):
    to: str
    subject: str
    template: str
    body_text: str
    created_at: dt.datetime


class UserCursor(CursorKey):
    t: CursorTime
    c: CursorText


class MailCursor(CursorKey):
    t: CursorTime
    i: uuid.UUID
