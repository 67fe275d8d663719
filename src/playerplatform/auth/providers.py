"""Turning a provider's login body into a `VerifiedIdentity`: the platform vouches for it
(Steam ticket, Epic ID token, Twitch OAuth code) or the body is the credential (device id).
Used by login and by linking alike."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ValidationError

from playerplatform.auth.schemas import DeviceLogin, EmailLogin, EpicLogin, SteamLogin, TwitchLink
from playerplatform.auth.service import VerifiedIdentity
from playerplatform.kit.errors import AccountBanned, NotFound, validation_failed
from playerplatform.runtime import Runtime
from playerplatform.users.schemas import display_name_or_none

MASK_LENGTH = 8

LOGIN_BODIES: dict[str, type[BaseModel]] = {
    "email": EmailLogin,
    "device": DeviceLogin,
    "steam": SteamLogin,
    "epic": EpicLogin,
    "twitch": TwitchLink,
}


def parse_login_body(provider: str, body: Any) -> BaseModel:
    """Validate `body` as `provider`'s login body (422 listing the fields otherwise)."""
    model = LOGIN_BODIES.get(provider)
    if model is None:
        raise NotFound(f"Unknown provider '{provider}'.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_failed(exc.errors()) from None


def device_key(device_id: str) -> str:
    """What is stored of a device id: its SHA-256. A device id is the only credential of a
    guest, so it is kept like a password-equivalent token: the login hashes what it is given
    and looks the hash up; the id itself is never stored, shown or logged."""
    return hashlib.sha256(device_id.encode()).hexdigest()


def device_identity(body: DeviceLogin) -> VerifiedIdentity:
    return VerifiedIdentity(provider="device", provider_id=device_key(body.device_id), data={})


def masked_provider_id(provider: str, provider_id: str) -> str:
    """An identity's provider id as staff and the audit log see it: a device's stored hash
    shortened to a fingerprint (enough to tell a player's devices apart), others in full."""
    if provider == "device":
        return provider_id[:MASK_LENGTH] + "…"
    return provider_id


async def steam_identity(rt: Runtime, body: SteamLogin) -> VerifiedIdentity:
    owner = await rt.steam.authenticate_user_ticket(body.ticket, body.identity)
    if owner.publisherbanned and rt.settings.steam_block_publisher_banned:
        raise AccountBanned("This Steam account is banned by the publisher.")
    data: dict[str, Any] = {"ownersteamid": owner.ownersteamid, "vacbanned": owner.vacbanned}
    if owner.ownersteamid != owner.steamid:
        data["family_shared"] = True
    return VerifiedIdentity(provider="steam", provider_id=owner.steamid, data=data)


async def epic_identity(rt: Runtime, body: EpicLogin) -> VerifiedIdentity:
    epic = await rt.epic.verify_id_token(body.id_token)
    data: dict[str, Any] = {"kind": epic.kind}
    if epic.account_id:
        data["account_id"] = epic.account_id
    if epic.platform:
        data["platform"] = epic.platform
    # A platform's name is held to the same rules as one typed in: the shape, then the filter.
    name = display_name_or_none(epic.display_name)
    if name is not None and not (await rt.text_filter.check(name, field="display_name")).allowed:
        name = None
    return VerifiedIdentity(provider="epic", provider_id=epic.subject, data=data, display_name=name)


async def twitch_identity(rt: Runtime, body: TwitchLink) -> VerifiedIdentity:
    user = await rt.twitch.exchange_code(body.code, body.redirect_uri)
    return VerifiedIdentity(provider="twitch", provider_id=user.user_id, data={"login": user.login})
