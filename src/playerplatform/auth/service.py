"""Signing in: one path for every provider (find or create the account behind an identity,
open a session, issue tokens), refresh-token rotation with reuse detection, logout, sessions
and service-account tokens."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from playerplatform.audit import service as audit
from playerplatform.auth import repository
from playerplatform.auth.deps import Principal
from playerplatform.auth.models import Identity, RefreshToken, ServiceAccount, Session
from playerplatform.auth.schemas import (
    ServiceTokenResponse,
    SessionList,
    SessionOut,
    TokenResponse,
)
from playerplatform.auth.sessions import publish_user, revoke_user_sessions
from playerplatform.auth.state import (
    SESSION_ACTIVE,
    SESSION_REVOKED,
    UserState,
    publish_session_status,
    publish_user_state,
)
from playerplatform.auth.tokens import (
    hash_token,
    issue_access_token,
    issue_service_token,
    new_refresh_token,
    new_session_id,
)
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AccountBanned, InvalidCredentials, InvalidToken, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import IdentityOut, UserOut


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """An identity a provider vouched for (a checked ticket, token, password or device id)."""

    provider: str
    provider_id: str
    data: dict[str, Any]
    display_name: str | None = None
    secret_hash: str | None = None


async def sign_in(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    verified: VerifiedIdentity,
    *,
    create: bool = True,
    email_verified: bool = False,
) -> tuple[TokenResponse, bool]:
    """Find or create the account behind `verified`, open a session and issue tokens.
    Returns (tokens, created)."""
    identity = await repository.find_identity(uow, verified.provider, verified.provider_id)
    created = False
    if identity is None:
        if not create:
            raise InvalidCredentials("Invalid credentials.")
        user, identity, created = await _create_account(uow, verified, email_verified)
        identities = [identity]
    else:
        found = await users_repository.get_user(uow, identity.user_id)
        assert found is not None
        user = found
        identities = await repository.list_identities(uow, user.id)
        if verified.data and verified.data != identity.data:
            await repository.touch_identity(uow, identity.id, {**identity.data, **verified.data})
    await _ensure_can_sign_in(uow, user, client, verified.provider)
    tokens = await open_session(uow, rt, client, user, identities, provider=verified.provider)
    await audit.record(
        uow,
        action="auth.register" if created else "auth.login",
        resource_type="session",
        resource_id=tokens.user.canonical_id,
        actor=user.canonical_id,
        new={"provider": verified.provider},
        client=client,
    )
    tokens.created = created
    return tokens, created


async def _create_account(
    uow: UnitOfWork, verified: VerifiedIdentity, email_verified: bool
) -> tuple[User, Identity, bool]:
    user = await users.create_user(
        uow, display_name=verified.display_name, email_verified=email_verified
    )
    identity = await repository.claim_identity(
        uow,
        user_id=user.id,
        provider=verified.provider,
        provider_id=verified.provider_id,
        secret_hash=verified.secret_hash,
        data=verified.data,
    )
    if identity is not None:
        repository.add_link_record(
            uow,
            user_id=user.id,
            provider=verified.provider,
            provider_id=verified.provider_id,
            action="link",
        )
        return user, identity, True
    # Another request created this identity's account a moment ago: sign in to that one.
    await uow.session.delete(user)
    existing = await repository.find_identity(uow, verified.provider, verified.provider_id)
    assert existing is not None
    owner = await users_repository.get_user(uow, existing.user_id)
    assert owner is not None
    return owner, existing, False


async def _ensure_can_sign_in(
    uow: UnitOfWork, user: User, client: ClientInfo, provider: str
) -> None:
    state = UserState.of(user)
    if state.is_banned():
        await audit.record(
            uow,
            action="auth.login_refused",
            resource_type="session",
            actor=user.canonical_id,
            outcome="denied",
            new={"provider": provider, "reason": "banned"},
            client=client,
        )
        raise AccountBanned("This account is banned.", commit=True)
    if user.status == "merged":
        raise InvalidCredentials("Invalid credentials.")


async def open_session(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    user: User,
    identities: list[Identity],
    *,
    provider: str,
) -> TokenResponse:
    settings = rt.settings
    now = utcnow()
    sid = new_session_id()
    refresh, refresh_hash = new_refresh_token()
    expires_at = now + dt.timedelta(seconds=settings.refresh_token_ttl)
    session = Session(
        id=uuid.uuid4(),
        public_id=sid,
        user_id=user.id,
        provider=provider,
        status="active",
        ip=client.ip,
        user_agent=client.user_agent,
        created_at=now,
        refreshed_at=now,
        expires_at=expires_at,
    )
    await repository.add_session(
        uow,
        session,
        RefreshToken(
            token_hash=refresh_hash, session_id=session.id, created_at=now, expires_at=expires_at
        ),
    )
    # Write-through: the first request with the new token needs no database read.
    publish_session_status(uow, rt.hot, user.canonical_id, [sid], SESSION_ACTIVE)
    publish_user_state(uow, rt.hot, user.canonical_id, UserState.of(user))
    return await _token_response(rt, user, identities, sid, refresh, uow)


async def _token_response(
    rt: Runtime,
    user: User,
    identities: list[Identity],
    sid: str,
    refresh: str,
    uow: UnitOfWork,
) -> TokenResponse:
    settings = rt.settings
    access = await issue_access_token(
        rt.keys,
        settings,
        canonical_id=user.canonical_id,
        session_id=sid,
        roles=list(user.roles),
        identities=identities,
    )
    profile = await users_repository.get_profile(uow, user.id)
    user_out = UserOut(
        canonical_id=user.canonical_id,
        status=user.status,
        roles=list(user.roles),
        profile=users.profile_out(profile),
        identities=[
            IdentityOut(provider=i.provider, provider_id=i.provider_id, linked_at=i.linked_at)
            for i in identities
        ],
        email_verified=user.email_verified,
        created_at=user.created_at,
    )
    return TokenResponse(
        access_token=access,
        expires_in=settings.access_token_ttl,
        refresh_token=refresh,
        refresh_expires_in=settings.refresh_token_ttl,
        user=user_out,
        created=False,
    )


async def refresh(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, refresh_token: str
) -> TokenResponse:
    """Rotate a refresh token. A token presented a second time revokes its whole session."""
    token_hash = hash_token(refresh_token)
    found = await repository.find_refresh_token(uow, token_hash)
    if found is None:
        raise InvalidToken("Unknown refresh token.")
    token, session = found
    user = await users_repository.get_user(uow, session.user_id)
    assert user is not None
    if token.used_at is not None or not await repository.mark_refresh_used(uow, token_hash):
        await _revoke_for_reuse(uow, rt, client, user, session)
        raise InvalidToken("This refresh token was already used; the session is revoked.", commit=True)
    now = utcnow()
    if session.status != "active" or session.expires_at <= now:
        raise InvalidToken("The session has ended.")
    if token.expires_at <= now:
        raise InvalidToken("The refresh token has expired.", code="token_expired")
    if UserState.of(user).is_banned():
        raise AccountBanned("This account is banned.", status=401)
    if user.status != "active":
        raise InvalidToken("The account no longer exists.")
    new_token, new_hash = new_refresh_token()
    session.refreshed_at = now
    session.expires_at = now + dt.timedelta(seconds=rt.settings.refresh_token_ttl)
    uow.session.add(
        RefreshToken(
            token_hash=new_hash, session_id=session.id, created_at=now, expires_at=session.expires_at
        )
    )
    identities = await repository.list_identities(uow, user.id)
    return await _token_response(rt, user, identities, session.public_id, new_token, uow)


async def _revoke_for_reuse(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, user: User, session: Session
) -> None:
    await repository.revoke_session(uow, session.id, "refresh_reuse")
    publish_session_status(uow, rt.hot, user.canonical_id, [session.public_id], SESSION_REVOKED)
    await audit.record(
        uow,
        action="auth.refresh_reuse",
        resource_type="session",
        resource_id=session.public_id,
        actor=user.canonical_id,
        outcome="denied",
        new={"session_revoked": True},
        client=client,
    )


async def logout(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, *, everywhere: bool
) -> None:
    user = await users.get_user(uow, _user_id(principal))
    if everywhere:
        revoked = await revoke_user_sessions(uow, rt.hot, user, reason="logout_all")
    else:
        revoked = await _revoke_one(uow, rt, user, principal.session_id or "", "logout")
    await audit.record(
        uow,
        action="auth.logout_all" if everywhere else "auth.logout",
        resource_type="session",
        resource_id=principal.session_id,
        actor=principal,
        new={"revoked_sessions": len(revoked)},
        client=client,
    )


async def _revoke_one(
    uow: UnitOfWork, rt: Runtime, user: User, sid: str, reason: str
) -> list[str]:
    session = await repository.find_session(uow, sid)
    if session is None or session.user_id != user.id:
        raise NotFound("No such session.")
    await repository.revoke_session(uow, session.id, reason)
    publish_session_status(uow, rt.hot, user.canonical_id, [sid], SESSION_REVOKED)
    return [sid]


async def list_sessions(uow: UnitOfWork, principal: Principal) -> SessionList:
    from playerplatform.auth.sessions import list_user_sessions

    rows = await list_user_sessions(uow, _user_id(principal))
    return SessionList(
        items=[
            SessionOut(
                session_id=s.public_id,
                provider=s.provider,
                current=s.public_id == principal.session_id,
                ip=s.ip,
                user_agent=s.user_agent,
                created_at=s.created_at,
                refreshed_at=s.refreshed_at,
                expires_at=s.expires_at,
            )
            for s in rows
        ]
    )


async def end_session(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, sid: str
) -> None:
    user = await users.get_user(uow, _user_id(principal))
    await _revoke_one(uow, rt, user, sid, "revoked_by_user")
    await audit.record(
        uow,
        action="auth.session_revoke",
        resource_type="session",
        resource_id=sid,
        actor=principal,
        client=client,
    )


def _user_id(principal: Principal) -> uuid.UUID:
    assert principal.user_id is not None
    return principal.user_id


# Service accounts (game servers, tools).

SERVICE_SECRET_PREFIX = "pps_"


def _service_secret_hash(secret: str) -> str:
    # Secrets are 256-bit random strings, so a fast hash is as strong as a slow one here.
    return hash_token(secret)


async def create_service_account(
    uow: UnitOfWork, client: ClientInfo, actor: Principal, *, name: str, scopes: list[str]
) -> tuple[ServiceAccount, str]:
    secret = SERVICE_SECRET_PREFIX + secrets.token_urlsafe(32)
    account = ServiceAccount(
        client_id="svc_" + secrets.token_hex(8),
        name=name,
        secret_hash=_service_secret_hash(secret),
        scopes=sorted(set(scopes)),
        status="active",
        created_by=actor.subject,
    )
    uow.session.add(account)
    await uow.session.flush()
    await audit.record(
        uow,
        action="service_account.create",
        resource_type="service_account",
        resource_id=account.client_id,
        actor=actor,
        new={"name": name, "scopes": account.scopes},
        client=client,
    )
    return account, secret


async def service_token(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
) -> ServiceTokenResponse:
    account = await repository.find_service_account(uow, client_id)
    presented = _service_secret_hash(client_secret)
    expected = account.secret_hash if account else _service_secret_hash("")
    if account is None or account.status != "active" or not hmac.compare_digest(presented, expected):
        await rt.limiter.record_failed_login(client.ip, f"svc:{client_id}")
        await audit.record(
            uow,
            action="auth.service_token_failed",
            resource_type="service_account",
            resource_id=client_id,
            actor=None,
            outcome="denied",
            client=client,
        )
        raise InvalidCredentials("Invalid client credentials.", commit=True)
    requested = set(scope.split()) if scope else set(account.scopes)
    if not requested <= set(account.scopes):
        raise InvalidCredentials("A requested scope is not granted to this client.", code="invalid_scope")
    token = await issue_service_token(rt.keys, rt.settings, client_id=client_id, scopes=sorted(requested))
    await audit.record(
        uow,
        action="auth.service_token",
        resource_type="service_account",
        resource_id=client_id,
        actor=f"svc:{client_id}",
        client=client,
    )
    return ServiceTokenResponse(
        access_token=token, expires_in=rt.settings.access_token_ttl, scope=" ".join(sorted(requested))
    )


__all__ = ["VerifiedIdentity", "open_session", "publish_user", "sign_in"]
