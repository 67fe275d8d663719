"""Wire models of the users domain."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


# ISO 3166-1 alpha-2, officially assigned codes.
_COUNTRY_CODES = (
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCI"
    "CKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQ"
    "GRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLS"
    "LTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPG"
    "PHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTK"
    "TLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW"
)
ISO_COUNTRIES = frozenset(_COUNTRY_CODES[i : i + 2] for i in range(0, len(_COUNTRY_CODES), 2))
DISPLAY_NAME_MAX = 32
AVATAR_URL_MAX = 512
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
# Bidi overrides and isolates let a name render as something other than what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean_display_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise ValueError(f"must be 1 to {DISPLAY_NAME_MAX} characters after trimming")
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in name):
        raise ValueError("must not contain control characters")
    return name


def _clean_avatar_url(value: str) -> str:
    if len(value) > AVATAR_URL_MAX:
        raise ValueError(f"must be at most {AVATAR_URL_MAX} characters")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("must be an http or https URL")
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http or https URL")
    return value


def _clean_locale(value: str) -> str:
    if len(value) > 16 or not LOCALE_PATTERN.fullmatch(value):
        raise ValueError("must be a BCP 47 language tag such as 'en' or 'pt-BR'")
    return value


def _clean_country(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_COUNTRIES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


class ProfilePatch(BaseModel):
    """`PATCH /users/me`: only the fields sent change; null clears a field."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, max_length=256)
    avatar_url: str | None = Field(None, max_length=2048)
    locale: str | None = Field(None, max_length=64)
    country: str | None = Field(None, max_length=16)

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_display_name(value)

    @field_validator("avatar_url")
    @classmethod
    def _avatar_url(cls, value: str | None) -> str | None:
        return None if value is None else _clean_avatar_url(value)

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        return None if value is None else _clean_locale(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else _clean_country(value)

    def changes(self) -> dict[str, str | None]:
        """The fields the client sent, with their cleaned values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProgressionOut(BaseModel):
    version: int
    data: dict[str, Any]
    updated_at: dt.datetime | None


class ProgressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any]


class FriendOut(PublicUserOut):
    """A friend or a pending request: the other player's public profile, and since when."""

    since: dt.datetime


class FriendsOut(BaseModel):
    friends: list[FriendOut]
    incoming: list[FriendOut]
    outgoing: list[FriendOut]


class FriendshipOut(BaseModel):
    """The state between the caller and another player after a friend request."""

    user: PublicUserOut
    status: Literal["pending", "accepted"]
    since: dt.datetime
