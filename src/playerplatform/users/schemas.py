"""Wire models of the users domain."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field

from playerplatform.kit.edge import EdgeModel, JsonDocument


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
    """What any player may see of another: never roles, status, identities or email (a
    stranger has no business knowing who the moderators are)."""

    canonical_id: str
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
LOCALE_MAX = 16
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
CANONICAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Bidi overrides and isolates let a name render as something other than what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_display_name(value: str) -> str:
    """The one rule for display names, wherever one is accepted (registration, profile,
    a provider's name): trimmed, 1 to 32 characters, no control or bidi-override characters
    (they make a name render as something other than what it is)."""
    name = value.strip()
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise ValueError(f"must be 1 to {DISPLAY_NAME_MAX} characters after trimming")
    if any(unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS for ch in name):
        raise ValueError("must not contain control characters")
    return name


def display_name_or_none(value: str | None) -> str | None:
    """A display name from elsewhere (a platform's profile) cleaned by the same rule, or None
    when it does not pass."""
    if value is None:
        return None
    try:
        return clean_display_name(value[:DISPLAY_NAME_MAX])
    except ValueError:
        return None


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
    if not LOCALE_PATTERN.fullmatch(value):
        raise ValueError("must be a BCP 47 language tag such as 'en' or 'pt-BR'")
    return value


def _clean_country(value: str) -> str:
    code = value.upper()
    if code not in ISO_COUNTRIES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


DisplayName = Annotated[
    str, Field(min_length=1, max_length=DISPLAY_NAME_MAX), AfterValidator(clean_display_name)
]
AvatarUrl = Annotated[
    str, Field(min_length=1, max_length=AVATAR_URL_MAX), AfterValidator(_clean_avatar_url)
]
Locale = Annotated[str, Field(min_length=2, max_length=LOCALE_MAX), AfterValidator(_clean_locale)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$"), AfterValidator(_clean_country)]
# A player's canonical id as a path parameter, the same on every route that takes one.
CanonicalIdPath = Path(pattern=CANONICAL_ID_PATTERN, description="A player's canonical id.")


class ProfilePatch(EdgeModel):
    """`PATCH /users/me`: only the fields sent change; null clears a field."""

    display_name: DisplayName | None = None
    avatar_url: AvatarUrl | None = None
    locale: Locale | None = None
    country: Country | None = None

    def changes(self) -> dict[str, str | None]:
        """The fields the client sent, with their cleaned values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProgressionOut(BaseModel):
    version: int
    data: dict[str, Any]
    updated_at: dt.datetime | None


class ProgressionIn(EdgeModel):
    # Its size limit is a setting (`PP_PROGRESSION_MAX_BYTES`, 413 above it).
    data: Annotated[dict[str, Any], JsonDocument(max_bytes=None)]


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
