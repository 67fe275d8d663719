"""Wire models of the users domain."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class ProfileOut(BaseModel):
    display_name: str | None = None
    avatar_url: str | None = None
    locale: str | None = None
    country: str | None = None


class IdentityOut(BaseModel):
    provider: str
    provider_id: str
    linked_at: dt.datetime


class UserOut(BaseModel):
    canonical_id: str
    status: str
    roles: list[str]
    profile: ProfileOut
    identities: list[IdentityOut]
    email_verified: bool
    created_at: dt.datetime


class PublicUserOut(BaseModel):
    canonical_id: str
    roles: list[str]
    profile: ProfileOut
    created_at: dt.datetime
