"""Wire models of the auth domain."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from playerplatform.users.schemas import UserOut

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")


def _hex_ticket(value: str) -> str:
    if len(value) % 2 or not _HEX.match(value):
        raise ValueError("the ticket must be hex-encoded bytes")
    return value


def _printable(value: str) -> str:
    if not _PRINTABLE.match(value):
        raise ValueError("only printable ASCII without spaces is allowed")
    return value


def _email(value: str) -> str:
    try:
        # Deliverability is the mailer's business; `.test` addresses are allowed for staging.
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


Email = Annotated[str, StringConstraints(min_length=3, max_length=320), AfterValidator(_email)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DeviceId = Annotated[
    str, StringConstraints(min_length=10, max_length=128), AfterValidator(_printable)
]
SteamTicket = Annotated[
    str, StringConstraints(min_length=2, max_length=8192), AfterValidator(_hex_ticket)
]
OneTimeToken = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Jwt = Annotated[str, StringConstraints(min_length=10, max_length=8192)]


class EmailRegister(Strict):
    email: Email
    password: Password
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class EmailLogin(Strict):
    email: Email
    password: Password


class EmailVerify(Strict):
    token: OneTimeToken


class PasswordResetRequest(Strict):
    email: Email


class PasswordResetConfirm(Strict):
    token: OneTimeToken
    password: Password


class DeviceLogin(Strict):
    device_id: DeviceId


class SteamLogin(Strict):
    ticket: SteamTicket
    identity: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class EpicLogin(Strict):
    id_token: Jwt


class TwitchLink(Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    redirect_uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class ClientCredentials(BaseModel):
    grant_type: Literal["client_credentials"]
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    scope: Annotated[str, StringConstraints(max_length=1024)] | None = None


class RefreshRequest(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=10, max_length=256)]


class LogoutRequest(Strict):
    all: bool = False


class MergeRequest(Strict):
    merge_token: Jwt


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user: UserOut
    created: bool


class ServiceTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str


class SessionOut(BaseModel):
    session_id: str
    provider: str
    current: bool
    ip: str | None
    user_agent: str | None
    created_at: dt.datetime
    refreshed_at: dt.datetime
    expires_at: dt.datetime


class SessionList(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = None


class MergeResponse(BaseModel):
    user: UserOut
    merged_from: str


class ServiceAccountCreate(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    scopes: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]] = Field(
        default_factory=list, max_length=32
    )


class ServiceAccountCreated(BaseModel):
    client_id: str
    client_secret: str
    name: str
    scopes: list[str]
