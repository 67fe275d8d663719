"""Wire models of the auth domain."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from playerplatform.auth import passwords
from playerplatform.kit.edge import EdgeModel
from playerplatform.users.schemas import DisplayName, UserOut

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


def canonical_email(value: str) -> str:
    """The one rule for an email address, wherever one is accepted (the API, the bootstrap
    admin's setting, the command line): valid, normalised and lower-cased, as it is stored.
    ValueError otherwise."""
    if not 3 <= len(value) <= 254:
        raise ValueError("must be 3 to 254 characters")
    try:
        # Deliverability is the mailer's business; `.test` addresses are allowed for staging.
        normalized = validate_email(
            value, check_deliverability=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return normalized.strip().lower()


# 254: the longest address SMTP can carry (RFC 5321's 256-octet path, less the brackets).
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=254),
    AfterValidator(canonical_email),
    Field(json_schema_extra={"format": "email"}),
]
Strict = EdgeModel

Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# A password being chosen: the policy's length; `check_strength` refuses common ones.
NewPassword = Annotated[
    str, StringConstraints(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)
]
DeviceId = Annotated[
    str, StringConstraints(min_length=10, max_length=128), AfterValidator(_printable)
]
SteamTicket = Annotated[
    str, StringConstraints(min_length=2, max_length=8192), AfterValidator(_hex_ticket)
]
# A TOTP code (RFC 6238): six digits from the authenticator app.
TotpCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
OneTimeToken = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Jwt = Annotated[str, StringConstraints(min_length=10, max_length=8192)]


class EmailRegister(Strict):
    email: Email
    password: NewPassword
    display_name: DisplayName | None = None


class EmailLogin(Strict):
    email: Email
    password: Password
    # Required for accounts with a second factor (and for staff when the setting says so).
    totp_code: TotpCode | None = None


class TotpConfirm(Strict):
    code: TotpCode


class EmailVerify(Strict):
    token: OneTimeToken


class PasswordResetRequest(Strict):
    email: Email


class PasswordResetConfirm(Strict):
    token: OneTimeToken
    password: NewPassword


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


class ClientCredentials(Strict):
    # OAuth 2 (RFC 6749 section 3.2): unrecognised request parameters are ignored.
    model_config = ConfigDict(extra="ignore")

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
