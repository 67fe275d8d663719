"""Email and password accounts: registration, login, verification and password reset.

Unknown emails and wrong passwords answer alike (same code, same argon2 cost); password reset
answers 202 whether or not the address has an account.
"""

from __future__ import annotations

import datetime as dt
import secrets

from playerplatform.audit import service as audit
from playerplatform.auth import repository
from playerplatform.auth.models import EmailToken
from playerplatform.auth.passwords import check_strength, hash_password, verify_password
from playerplatform.auth.schemas import TokenResponse
from playerplatform.auth.service import VerifiedIdentity, sign_in
from playerplatform.auth.sessions import revoke_user_sessions
from playerplatform.auth.state import forget_user_view
from playerplatform.auth.tokens import hash_token
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, Conflict, InvalidCredentials
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.mail import render
from playerplatform.kit.textfilter import default_text_filter, ensure_acceptable
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import UserOut

VERIFY, RESET = "verify", "reset"


class InvalidEmailToken(AppError):
    status, code, title = 400, "invalid_token", "Invalid or expired token"


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    *,
    email: str,
    password: str,
    display_name: str | None,
) -> TokenResponse:
    email = normalize_email(email)
    check_strength(password, email=email)
    if display_name is not None:
        await ensure_acceptable(default_text_filter(), display_name, field="display_name")
    if await repository.find_identity(uow, "email", email) is not None:
        raise Conflict("An account already uses this email.", code="identity_in_use")
    verified = VerifiedIdentity(
        provider="email",
        provider_id=email,
        data={},
        display_name=display_name,
        secret_hash=await hash_password(password),
    )
    tokens, created = await sign_in(uow, rt, client, verified)
    if not created:  # lost a race with another registration of the same address
        raise Conflict("An account already uses this email.", code="identity_in_use")
    user = await users.get_by_canonical(uow, tokens.user.canonical_id)
    await send_email_token(uow, rt, user, email, VERIFY)
    return tokens


async def login(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, *, email: str, password: str
) -> TokenResponse:
    email = normalize_email(email)
    await rt.limiter.check_failed_logins(client.ip, email)
    identity = await repository.find_identity(uow, "email", email)
    ok = await verify_password(identity.secret_hash if identity else None, password)
    if identity is None or not ok:
        await rt.limiter.record_failed_login(client.ip, email)
        owner = await users_repository.get_user(uow, identity.user_id) if identity else None
        await audit.record(
            uow,
            action="auth.login_failed",
            resource_type="session",
            actor=None,
            subjects=[owner.canonical_id] if owner else [],
            outcome="denied",
            new={"provider": "email"},
            client=client,
        )
        raise InvalidCredentials("Invalid email or password.", commit=True)
    verified = VerifiedIdentity(provider="email", provider_id=email, data={})
    tokens, _ = await sign_in(uow, rt, client, verified, create=False)
    return tokens


async def send_email_token(
    uow: UnitOfWork, rt: Runtime, user: User, email: str, purpose: str
) -> None:
    token = secrets.token_urlsafe(32)
    hours = rt.settings.email_token_ttl // 3600
    uow.session.add(
        EmailToken(
            token_hash=hash_token(token),
            user_id=user.id,
            purpose=purpose,
            email=email,
            expires_at=utcnow() + dt.timedelta(seconds=rt.settings.email_token_ttl),
        )
    )
    base = rt.settings.public_url.rstrip("/")
    if purpose == VERIFY:
        message = render(
            "verify_email",
            email,
            token=token,
            link=f"{base}/verify-email?token={token}",
            hours=hours,
        )
    else:
        message = render(
            "password_reset",
            email,
            token=token,
            link=f"{base}/reset-password?token={token}",
            hours=hours,
        )
    await rt.mailer.send(uow, message)


async def _spend(uow: UnitOfWork, token: str, purpose: str) -> EmailToken:
    token_hash = hash_token(token)
    row = await repository.find_email_token(uow, token_hash, purpose)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidEmailToken("This token is invalid, already used or expired.")
    if not await repository.spend_email_token(uow, token_hash):
        raise InvalidEmailToken("This token is invalid, already used or expired.")
    return row


async def verify(uow: UnitOfWork, rt: Runtime, client: ClientInfo, token: str) -> UserOut:
    row = await _spend(uow, token, VERIFY)
    user = await users.get_user(uow, row.user_id)
    identity = await repository.find_identity(uow, "email", row.email)
    if identity is None or identity.user_id != user.id:
        raise InvalidEmailToken("This address is no longer on the account.")
    identity.data = {**identity.data, "verified": True}
    user.email_verified = True
    forget_user_view(uow, rt.hot, user.canonical_id)
    await audit.record(
        uow,
        action="auth.email_verified",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=user.canonical_id,
        new={"email_verified": True},
        client=client,
    )
    return await users.user_view(uow, user.id)


async def request_password_reset(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, email: str
) -> None:
    email = normalize_email(email)
    identity = await repository.find_identity(uow, "email", email)
    if identity is None:
        return
    user = await users_repository.get_user(uow, identity.user_id)
    if user is None or user.status == "merged":
        return
    await send_email_token(uow, rt, user, email, RESET)
    await audit.record(
        uow,
        action="auth.password_reset_requested",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=None,
        subjects=[user.canonical_id],
        client=client,
    )


async def confirm_password_reset(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, *, token: str, password: str
) -> None:
    row = await _spend(uow, token, RESET)
    check_strength(password, email=row.email)
    identity = await repository.find_identity(uow, "email", row.email)
    user = await users.get_user(uow, row.user_id)
    if identity is None or identity.user_id != user.id:
        raise InvalidEmailToken("This address is no longer on the account.")
    identity.secret_hash = await hash_password(password)
    # Whoever could reset the password reads the mailbox: the address is verified too.
    identity.data = {**identity.data, "verified": True}
    user.email_verified = True
    forget_user_view(uow, rt.hot, user.canonical_id)
    revoked = await revoke_user_sessions(uow, rt.hot, user, reason="password_reset")
    await audit.record(
        uow,
        action="auth.password_reset",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=user.canonical_id,
        new={"revoked_sessions": len(revoked)},
        client=client,
    )


async def verified_for_link(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, *, email: str, password: str
) -> VerifiedIdentity:
    """The email identity to link: a new address (the password must be strong) or one that
    already exists (the password must be its own, else no merge can be offered)."""
    email = normalize_email(email)
    existing = await repository.find_identity(uow, "email", email)
    if existing is None:
        check_strength(password, email=email)
        return VerifiedIdentity("email", email, {}, secret_hash=await hash_password(password))
    await rt.limiter.check_failed_logins(client.ip, email)
    if not await verify_password(existing.secret_hash, password):
        await rt.limiter.record_failed_login(client.ip, email)
        raise InvalidCredentials("Invalid email or password.")
    return VerifiedIdentity("email", email, {})
