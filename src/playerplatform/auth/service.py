"""Signing in: one path for every provider (find or create the account behind an identity,
open a session, issue tokens), refresh-token rotation with reuse detection, logout, sessions
and service-account tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
import structlog

from playerplatform.audit import service as audit
from playerplatform.auth import repository, second_factor
from playerplatform.auth.deps import Principal
from playerplatform.auth.first_sign_in import Claim
from playerplatform.auth.models import AccountLink, Identity, RefreshToken, ServiceAccount, Session
from playerplatform.auth.schemas import (
    ServiceTokenResponse,
    SessionList,
    SessionOut,
    TokenResponse,
)
from playerplatform.auth.sessions import publish_user, revoke_user_sessions
from playerplatform.auth.state import (
    SESSION_REVOKED,
    UserState,
    publish_login,
    publish_session,
    publish_session_status,
)
from playerplatform.auth.tokens import (
    hash_token,
    issue_access_token,
    issue_service_token,
    new_refresh_token,
    new_session_id,
)
from playerplatform.kit.db import Row, UnitOfWork, insert_together, new_uuid, utcnow
from playerplatform.kit.errors import AccountBanned, InvalidCredentials, InvalidToken, NotFound
from playerplatform.kit.http import ClientInfo, written_for
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import Profile, User

log = structlog.get_logger(__name__)


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
    found: repository.Account | None = None,
    second_factor_checked: bool = False,
) -> tuple[TokenResponse, bool]:
    """Find or create the account behind `verified`, open a session and issue tokens.
    Returns (tokens, created). `found`: the account, when the caller has just read it.
    `second_factor_checked`: the caller checked the account's second factor (email sign-in);
    staff who must use one cannot sign in any other way.

    The hot path of every game start: one read, then one write statement (PostgreSQL) for
    the account, its identity, the session, the refresh token and the audit row."""
    if found is None:
        found = await repository.find_account(uow, verified.provider, verified.provider_id)
    if found is None:
        if not create:
            raise InvalidCredentials("Invalid credentials.")
        tokens = await _create_account_and_session(uow, rt, client, verified, email_verified)
        if tokens is not None:
            written_for(uow, tokens.user.canonical_id)
            return tokens, True
        # Another request created this identity's account a moment ago: sign in to that one.
        found = await repository.find_account(uow, verified.provider, verified.provider_id)
        assert found is not None
    identity, user, profile, identities = found
    if verified.data and verified.data != {k: identity.data.get(k) for k in verified.data}:
        await repository.touch_identity(uow, identity.id, {**identity.data, **verified.data})
    await _ensure_can_sign_in(uow, rt, user, client, verified.provider, second_factor_checked)
    session, refresh_row, refresh = _new_session(rt, client, user.id, verified.provider)
    login = audit.entry(
        action="auth.login",
        resource_type="session",
        resource_id=session["public_id"],
        actor=user.canonical_id,
        new={"provider": verified.provider},
        client=client,
    )
    await insert_together(
        uow,
        [],
        after_claim=[
            (Session.__table__, session),
            (RefreshToken.__table__, refresh_row),
            login,
        ],
    )
    written_for(uow, user.canonical_id)  # the account's reads after this see the session
    return await _issue(uow, rt, user, profile, identities, session["public_id"], refresh), False


@dataclass(slots=True)
class _NewAccount:
    """An account for a first sign-in, with its session, as rows not yet written."""

    user: User
    profile: Profile
    identity: Identity
    sid: str
    refresh: str
    rows: list[Row]  # the account
    claim: Row  # the identity: taken already means someone else signed in first
    after_claim: list[Row]  # the link record, the session, its refresh token, the audit row


def _new_account(
    rt: Runtime, client: ClientInfo, verified: VerifiedIdentity, email_verified: bool
) -> _NewAccount:
    """The rows of a first sign-in, built as rows (no mapped objects: the hot path writes
    them as they are); the account's own columns come from `users.new_account_rows`."""
    user_row, profile_row = users.new_account_rows(
        display_name=verified.display_name, email_verified=email_verified
    )
    now = user_row["created_at"]
    user_id = user_row["id"]
    identity_row = {
        "id": new_uuid(),
        "user_id": user_id,
        "provider": verified.provider,
        "provider_id": verified.provider_id,
        "secret_hash": verified.secret_hash,
        "data": verified.data,
        "linked_at": now,
        "last_login_at": now,
    }
    link_row = {
        "id": new_uuid(),
        "user_id": user_id,
        "provider": verified.provider,
        "provider_id": verified.provider_id,
        "action": "link",
        "other_user_id": None,
        "created_at": now,
    }
    session, refresh_row, refresh = _new_session(rt, client, user_id, verified.provider)
    return _NewAccount(
        # What the answer and the published state read of them (attributes, as of rows).
        user=cast(User, SimpleNamespace(**user_row)),
        profile=cast(Profile, SimpleNamespace(**profile_row)),
        identity=cast(Identity, SimpleNamespace(**identity_row)),
        sid=session["public_id"],
        refresh=refresh,
        rows=[(User.__table__, user_row), (Profile.__table__, profile_row)],
        claim=(Identity.__table__, identity_row),
        after_claim=[
            (AccountLink.__table__, link_row),
            (Session.__table__, session),
            (RefreshToken.__table__, refresh_row),
            audit.entry(
                action="auth.register",
                resource_type="session",
                resource_id=session["public_id"],
                actor=user_row["canonical_id"],
                new={"provider": verified.provider},
                client=client,
            ),
        ],
    )


async def _create_account_and_session(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    verified: VerifiedIdentity,
    email_verified: bool,
) -> TokenResponse | None:
    """None when the identity was claimed concurrently (nothing of ours is left written)."""
    new = _new_account(rt, client, verified, email_verified)
    claimed = await insert_together(uow, new.rows, claim=new.claim, after_claim=new.after_claim)
    if not claimed:
        await users_repository.delete_user(uow, new.user.id)
        return None
    publish_login(uow, rt.hot, new.user.canonical_id, new.sid, UserState.of(new.user))
    return await _first_tokens(rt, new)


async def _first_tokens(rt: Runtime, new: _NewAccount) -> TokenResponse:
    tokens = await _token_response(rt, new.user, new.profile, [new.identity], new.sid, new.refresh)
    tokens.created = True
    return tokens


async def first_sign_in(
    rt: Runtime, client: ClientInfo, verified: VerifiedIdentity
) -> TokenResponse | None:
    """On PostgreSQL, the sign-in of an identity no account has yet, below the ORM: the rows
    `sign_in` would write, in one statement on a driver connection (committed on its own;
    with those of other first sign-ins under way in this process, `ClaimBatcher`), written
    only if no account has the identity. None when one has, or got it concurrently
    (nothing of ours is left written): `sign_in` serves those. The game start's hot path:
    every new player's first request."""
    db = rt.db
    new = _new_account(rt, client, verified, email_verified=False)
    claimed, known = await rt.first_sign_ins.claim(
        Claim(
            rows=new.rows,
            claim=new.claim,
            after_claim=new.after_claim,
            unless=(
                Identity.__table__,
                {"provider": verified.provider, "provider_id": verified.provider_id},
            ),
        )
    )
    if not claimed:
        if not known:  # taken between the check and the claim: our account goes again
            forget = db.driver_statement(_FORGET_ACCOUNT)
            async with db.driver_connection() as conn:
                await conn.execute(forget.sql, *forget.args({"user_id": new.user.id}))
        return None
    try:
        await publish_session(rt.hot, new.user.canonical_id, new.sid, UserState.of(new.user))
    except Exception:
        # Committed already, as after any commit: the first request with the token reads the
        # session from the database instead.
        log.exception("session_publish_failed")
    return await _first_tokens(rt, new)


_FORGET_ACCOUNT = sa.delete(User).where(User.id == sa.bindparam("user_id"))


async def device_sign_in(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, verified: VerifiedIdentity
) -> TokenResponse:
    """`POST /auth/device/login`. The account is looked up first: a returning device (the
    common case) signs in to it at once, paying for nothing else. A device no account has yet
    signs in below the ORM on PostgreSQL (`first_sign_in`); on SQLite, through `sign_in`."""
    found = await repository.find_account(uow, verified.provider, verified.provider_id)
    if found is None and not rt.db.is_sqlite:
        await uow.release()  # `first_sign_in` writes on a connection of its own
        tokens = await first_sign_in(rt, client, verified)
        if tokens is not None:
            written_for(uow, tokens.user.canonical_id)
            return tokens
    return (await sign_in(uow, rt, client, verified, found=found))[0]


async def linked_identities(uow: UnitOfWork, user_id: uuid.UUID) -> list[Identity]:
    """A user's identities, oldest link first (for other domains: Epic purchases, mail)."""
    return await repository.list_identities(uow, user_id)


async def previous_holders(uow: UnitOfWork, provider: str, provider_id: str) -> list[uuid.UUID]:
    """The accounts an identity was unlinked from before (for other domains: what follows
    the identity rather than the account, as a wallet's debt does)."""
    return await repository.previous_holders(uow, provider, provider_id)


def users_linked_to(providers: Sequence[str]) -> sa.Select[Any]:
    """A query selecting the ids of users with an identity of any of `providers` (segments)."""
    return repository.users_linked_to(providers)


async def owner_of_identity(uow: UnitOfWork, provider: str, provider_id: str) -> uuid.UUID | None:
    """The user a platform identity is linked to, if any (for other domains: Twitch drops)."""
    identity = await repository.find_identity(uow, provider, provider_id)
    return identity.user_id if identity is not None else None


def _new_session(
    rt: Runtime, client: ClientInfo, user_id: uuid.UUID, provider: str
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(session row, refresh-token row, the refresh token itself)."""
    now = utcnow()
    expires_at = now + dt.timedelta(seconds=rt.settings.refresh_token_ttl)
    refresh, refresh_hash = new_refresh_token()
    session = {
        "id": new_uuid(),
        "public_id": new_session_id(),
        "user_id": user_id,
        "provider": provider,
        "status": "active",
        "ip": client.ip,
        "user_agent": client.user_agent,
        "created_at": now,
        "refreshed_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
        "revoke_reason": None,
    }
    refresh_row = {
        "token_hash": refresh_hash,
        "session_id": session["id"],
        "created_at": now,
        "expires_at": expires_at,
        "used_at": None,
    }
    return session, refresh_row, refresh


async def _ensure_can_sign_in(
    uow: UnitOfWork,
    rt: Runtime,
    user: User,
    client: ClientInfo,
    provider: str,
    second_factor_checked: bool,
) -> None:
    if not second_factor_checked and second_factor.is_staff(user.roles):
        factor = await second_factor.enabled_factor(uow, user.id)
        if second_factor.required(rt, user.roles, factor):
            raise second_factor.SecondFactorRequired(
                "Staff sign in by email, with the code of their second factor."
            )
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
        # The player is told why and until when (the reason they may appeal to the studio).
        raise AccountBanned(
            "This account is banned.",
            commit=True,
            extra={
                "reason": user.ban_reason,
                "until": user.banned_until.isoformat() if user.banned_until else None,
            },
        )
    if user.status == "merged":
        raise InvalidCredentials("Invalid credentials.")


async def _issue(
    uow: UnitOfWork,
    rt: Runtime,
    user: User,
    profile: Profile | None,
    identities: list[Identity],
    sid: str,
    refresh: str,
) -> TokenResponse:
    """Publish the session (write-through, so the first request with the new token needs no
    database read) and sign its tokens."""
    publish_login(uow, rt.hot, user.canonical_id, sid, UserState.of(user))
    return await _token_response(rt, user, profile, identities, sid, refresh)


async def _token_response(
    rt: Runtime,
    user: User,
    profile: Profile | None,
    identities: list[Identity],
    sid: str,
    refresh: str,
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
    return TokenResponse(
        access_token=access,
        expires_in=settings.access_token_ttl,
        refresh_token=refresh,
        refresh_expires_in=settings.refresh_token_ttl,
        user=users.user_out(user, profile, identities),
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
        raise InvalidToken(
            "This refresh token was already used; the session is revoked.", commit=True
        )
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
            token_hash=new_hash,
            session_id=session.id,
            created_at=now,
            expires_at=session.expires_at,
        )
    )
    identities = await repository.list_identities(uow, user.id)
    profile = await users_repository.get_profile(uow, user.id)
    return await _token_response(rt, user, profile, identities, session.public_id, new_token)


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


async def _revoke_one(uow: UnitOfWork, rt: Runtime, user: User, sid: str, reason: str) -> list[str]:
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
    # Failures count per IP and per client id and IP: a stranger cannot lock a game server
    # out; one failing from everywhere is only slowed down.
    slowdown = await rt.limiter.check_failed_logins(client.ip, f"svc:{client_id}")
    if slowdown:
        await asyncio.sleep(slowdown)
    account = await repository.find_service_account(uow, client_id)
    presented = _service_secret_hash(client_secret)
    expected = account.secret_hash if account else _service_secret_hash("")
    if (
        account is None
        or account.status != "active"
        or not hmac.compare_digest(presented, expected)
    ):
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
        raise InvalidCredentials(
            "A requested scope is not granted to this client.", code="invalid_scope"
        )
    token = await issue_service_token(
        rt.keys, rt.settings, client_id=client_id, scopes=sorted(requested)
    )
    await audit.record(
        uow,
        action="auth.service_token",
        resource_type="service_account",
        resource_id=client_id,
        actor=f"svc:{client_id}",
        client=client,
    )
    return ServiceTokenResponse(
        access_token=token,
        expires_in=rt.settings.access_token_ttl,
        scope=" ".join(sorted(requested)),
    )


__all__ = ["VerifiedIdentity", "publish_user", "sign_in"]
