"""Access tokens (JWT, claims exactly as the contract says), service tokens, merge tokens and
opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from typing import Any

from playerplatform.auth.keys import KeyRing
from playerplatform.auth.models import Identity
from playerplatform.kit.settings import Settings

# Identities that name an account on another platform; email and device ids stay out of tokens.
LINKED_PROVIDERS = ("steam", "epic", "twitch")


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, SHA-256 hash to store)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return "s" + secrets.token_hex(12)


def identity_claims(identities: Iterable[Identity]) -> tuple[list[str], list[str]]:
    """(`providers`, `linked_accounts`) claims for a set of identities."""
    identities = list(identities)
    providers = sorted({i.provider for i in identities})
    linked = sorted(
        f"{i.provider}_{i.provider_id}" for i in identities if i.provider in LINKED_PROVIDERS
    )
    return providers, linked


async def issue_access_token(
    keys: KeyRing,
    settings: Settings,
    *,
    canonical_id: str,
    session_id: str,
    roles: list[str],
    identities: Iterable[Identity],
) -> str:
    now = int(time.time())
    providers, linked = identity_claims(identities)
    claims: dict[str, Any] = {
        "sub": canonical_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": now + settings.access_token_ttl,
        "iat": now,
        "jti": secrets.token_hex(12),
        "sid": session_id,
        "providers": providers,
        "roles": list(roles),
        "linked_accounts": linked,
    }
    return await keys.sign(claims)


async def issue_service_token(
    keys: KeyRing, settings: Settings, *, client_id: str, scopes: list[str]
) -> str:
    now = int(time.time())
    return await keys.sign(
        {
            "sub": client_id,
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "exp": now + settings.access_token_ttl,
            "iat": now,
            "jti": secrets.token_hex(12),
            "token_use": "service",
            "scope": " ".join(scopes),
        }
    )


def merge_audience(settings: Settings) -> str:
    # A different audience: a merge token can never pass as an access token, nor the reverse.
    return f"{settings.jwt_audience}:merge"


async def issue_merge_token(
    keys: KeyRing, settings: Settings, *, target: str, source: str, provider: str, provider_id: str
) -> str:
    now = int(time.time())
    return await keys.sign(
        {
            "sub": target,
            "src": source,
            "prv": provider,
            "pid": provider_id,
            "iss": settings.jwt_issuer,
            "aud": merge_audience(settings),
            "exp": now + settings.merge_token_ttl,
            "iat": now,
            "jti": secrets.token_hex(12),
            "token_use": "merge",
        }
    )
