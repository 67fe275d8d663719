"""Email and password accounts: registration, login, verification and password reset.

Unknown emails and wrong passwords answer alike (same code, same argon2 cost); password reset
answers 202 whether or not the address has an account.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import NoReturn

from playerplatform.audit import service as audit
from playerplatform.auth import repository, second_factor
from playerplatform.auth.models import EmailToken, Identity
from playerplatform.auth.passwords import (
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from playerplatform.auth.schemas import TokenResponse
from playerplatform.auth.service import VerifiedIdentity, sign_in
from playerplatform.auth.sessions import revoke_user_sessions
from playerplatform.auth.state import forget_user_view
from playerplatform.auth.tokens import hash_token
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, Conflict, InvalidCredentials
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.mail import MailTemplate
from playerplatform.kit.textfilter import ensure_acceptable
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import UserOut

VERIFY, RESET = "verify", "reset"
# Password-reset requests become jobs on the mail queue (`auth.jobs.send_password_reset`).
RESET_QUEUE, RESET_KIND = "notification_send", "password_reset"

VERIFY_MAIL = MailTemplate(
    "verify_email",
    "Verify your email address",
    "Hello,\n\nConfirm this address for your account: open the link below, or enter the"
    " token where you signed up.\n\n$link\n\nToken: $token\n\nThe link expires in $hours"
    " hours. If you did not sign up, ignore this mail; nothing will happen.\n",
)
RESET_MAIL = MailTemplate(
    "password_reset",
    "Reset your password",
    "Hello,\n\nSomebody asked to reset the password of this account. To choose a new one,"
    " open the link below, or enter the token in the game.\n\n$link\n\nToken: $token\n\n"
    "The link expires in $hours hours. If it was not you, ignore this mail: your password"
    " stays as it is.\n",
)

# Sent when the owner of a never-verified address takes the account over (password reset or
# an operator's staff grant): what else was attached to it is dropped, and the owner is told.
DROPPED_MAIL = MailTemplate(
    "identities_dropped",
    "Sign-in methods removed from your account",
    "Hello,\n\nThis address was never verified on its account until now, so nothing else"
    " attached to the account can be trusted to be yours. We removed these sign-in"
    " methods and signed every session out:\n\n$dropped\n\nSign in with this address and"
    " your new password, and link your devices and platform accounts again.\n",
)


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
        await ensure_acceptable(rt.text_filter, display_name, field="display_name")
    # The 409 for a taken address is the contract's, so it is made as costly to ask as a
    # failed login: the same hashing first, and counted against the caller's IP.
    await rt.limiter.check_failed_logins(client.ip, None)
    secret_hash = await hash_password(password)
    if await repository.find_identity(uow, "email", email) is not None:
        await _address_taken(rt, client)
    verified = VerifiedIdentity(
        provider="email",
        provider_id=email,
        data={},
        display_name=display_name,
        secret_hash=secret_hash,
    )
    tokens, created = await sign_in(uow, rt, client, verified)
    if not created:  # lost a race with another registration of the same address
        await _address_taken(rt, client)
    user = await users.get_by_canonical(uow, tokens.user.canonical_id)
    await send_email_token(uow, rt, user, email, VERIFY)
    return tokens


async def _address_taken(rt: Runtime, client: ClientInfo) -> NoReturn:
    await rt.limiter.record_failed_login(client.ip, None)
    raise Conflict("An account already uses this email.", code="identity_in_use")


async def login(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    *,
    email: str,
    password: str,
    totp_code: str | None = None,
) -> TokenResponse:
    email = normalize_email(email)
    identity, owner = await _check_password(uow, rt, client, email, password, totp_code)
    if identity is None or owner is None:
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
    if needs_rehash(identity.secret_hash or ""):
        identity.secret_hash = await hash_password(password)
    verified = VerifiedIdentity(provider="email", provider_id=email, data={})
    tokens, _ = await sign_in(uow, rt, client, verified, create=False, second_factor_checked=True)
    return tokens


async def _check_password(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    email: str,
    password: str,
    totp_code: str | None,
) -> tuple[Identity | None, User | None]:
    """(the identity, its owner) when `password` is the address's and the second factor, if
    the account needs one, is given; (None, the owner if any) for a wrong password. Raises
    429 while this IP (or this IP for this address) failed too often, and 401 for a missing
    or wrong code. Failures are counted; an attempt on an address failing from everywhere is
    slowed down, unless it carries a valid code."""
    slowdown = await rt.limiter.check_failed_logins(client.ip, email)
    identity = await repository.find_identity(uow, "email", email)
    # Up to the password check, a known and an unknown address cost the same: one lookup
    # and one argon2 verification (the factor is read first only to spare a valid code the
    # slowdown).
    factor = None
    if slowdown:
        factor = await second_factor.enabled_factor(uow, identity.user_id) if identity else None
        if second_factor.accepted_step(factor, totp_code) is None:
            await asyncio.sleep(slowdown)
    ok = await verify_password(identity.secret_hash if identity else None, password)
    owner = await users_repository.get_user(uow, identity.user_id) if identity else None
    if identity is None or owner is None or not ok:
        await rt.limiter.record_failed_login(client.ip, email)
        return None, owner
    if factor is None:
        factor = await second_factor.enabled_factor(uow, owner.id)
    step = second_factor.accepted_step(factor, totp_code)
    try:
        await second_factor.check_sign_in(
            uow,
            rt,
            user_id=owner.id,
            roles=owner.roles,
            factor=factor,
            step=step,
            code=totp_code,
        )
    except second_factor.InvalidSecondFactor:
        await rt.limiter.record_failed_login(client.ip, email)
        raise
    return identity, owner


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
        message = VERIFY_MAIL.render(
            email,
            token=token,
            link=f"{base}/verify-email?token={token}",
            hours=hours,
        )
    else:
        message = RESET_MAIL.render(
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
    await repository.spend_email_tokens_of(uow, user.id, VERIFY)
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
    """Queue the reset: the request does the same work (one job written) whether or not the
    address has an account, so neither its answer nor its timing tells; the job looks the
    address up and mails the token (`send_password_reset`)."""
    await rt.jobs.enqueue(
        uow,
        RESET_QUEUE,
        {
            "kind": RESET_KIND,
            "email": normalize_email(email),
            "ip": client.ip,
            "user_agent": client.user_agent,
            "request_id": client.request_id,
        },
    )


async def send_password_reset(uow: UnitOfWork, rt: Runtime, email: str, client: ClientInfo) -> None:
    """Mail a reset token to `email` when an account signs in with it; nothing otherwise."""
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
    # Every reset token of the account is spent: one reset ends them all.
    await repository.spend_email_tokens_of(uow, user.id, RESET)
    identity.secret_hash = await hash_password(password)
    dropped = await claim_for_mailbox_owner(uow, rt, user, identity)
    revoked = await revoke_user_sessions(uow, rt.hot, user, reason="password_reset")
    await audit.record(
        uow,
        action="auth.password_reset",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=user.canonical_id,
        new={"revoked_sessions": len(revoked), "identities_dropped": dropped},
        client=client,
    )


async def claim_for_mailbox_owner(
    uow: UnitOfWork, rt: Runtime, user: User, identity: Identity
) -> list[str]:
    """The owner of the address proved it (a reset from the mailbox, an operator's word):
    the address becomes verified. When it never was, whoever registered or linked it may
    not be its owner, so every other identity of the account is dropped (the owner is told
    by mail). Returns the dropped identities as `provider` names. The caller revokes the
    sessions."""
    dropped: list[str] = []
    if not identity.data.get("verified"):
        for other in await repository.list_identities(uow, user.id):
            if other.id == identity.id:
                continue
            await repository.delete_identity(uow, other.id)
            repository.add_link_record(
                uow,
                user_id=user.id,
                provider=other.provider,
                provider_id=other.provider_id,
                action="drop",
            )
            dropped.append(other.provider)
        if dropped:
            await rt.mailer.send(
                uow,
                DROPPED_MAIL.render(
                    identity.provider_id, dropped="\n".join(f"- {p}" for p in sorted(dropped))
                ),
            )
    identity.data = {**identity.data, "verified": True}
    user.email_verified = True
    await repository.spend_email_tokens_of(uow, user.id, VERIFY)
    forget_user_view(uow, rt.hot, user.canonical_id)
    return sorted(dropped)


async def verified_for_link(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    *,
    email: str,
    password: str,
    totp_code: str | None = None,
) -> VerifiedIdentity:
    """The email identity to link: a new address or one that already exists (its password,
    and its second factor when it has one, must be given, else no merge can be offered).
    The password policy is checked first, for both: a known and an unknown address answer a
    weak password alike."""
    email = normalize_email(email)
    check_strength(password, email=email)
    if await repository.find_identity(uow, "email", email) is None:
        return VerifiedIdentity("email", email, {}, secret_hash=await hash_password(password))
    identity, _ = await _check_password(uow, rt, client, email, password, totp_code)
    if identity is None:
        raise InvalidCredentials("Invalid email or password.", commit=True)
    return VerifiedIdentity("email", email, {})
