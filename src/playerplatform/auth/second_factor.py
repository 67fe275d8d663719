"""The second factor: TOTP (RFC 6238) codes from an authenticator app.

Any account may enrol (start, then confirm with a first code). An enrolled account signs in
by email only with its password and a current code. Staff (moderators, admins) must when
`PP_STAFF_TOTP_REQUIRED` is on, and then sign in by email only (a device or platform login
has no second factor). A code is accepted once: each sign-in spends its time step.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pydantic import BaseModel

from playerplatform.audit import service as audit
from playerplatform.auth import repository, totp
from playerplatform.auth.deps import Principal
from playerplatform.auth.models import SecondFactor
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.runtime import Runtime

STAFF_ROLES = frozenset({"moderator", "admin"})


class SecondFactorRequired(Unauthorized):
    code, title = "second_factor_required", "A second factor is required"


class InvalidSecondFactor(Unauthorized):
    code, title = "invalid_second_factor", "Invalid second-factor code"


class TotpEnrolment(BaseModel):
    """A factor being enrolled: the secret to type in, or the URI to scan as a QR code."""

    secret: str
    otpauth_uri: str


class SecondFactorStatus(BaseModel):
    totp: str  # "none", "pending" (started, not confirmed) or "enabled"


def is_staff(roles: Iterable[str]) -> bool:
    return not STAFF_ROLES.isdisjoint(roles)


async def enabled_factor(uow: UnitOfWork, user_id: uuid.UUID) -> SecondFactor | None:
    """The account's confirmed factor, if it has one."""
    factor = await repository.find_second_factor(uow, user_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


def required(rt: Runtime, roles: Iterable[str], factor: SecondFactor | None) -> bool:
    """Whether a sign-in to this account needs a code."""
    return factor is not None or (rt.settings.staff_totp_required and is_staff(roles))


def accepted_step(factor: SecondFactor | None, code: str | None) -> int | None:
    """The time step of `code` when it is a current, unused code of `factor`."""
    if factor is None or not code:
        return None
    return totp.matching_step(factor.secret, code, after=factor.last_step)


async def check_sign_in(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    roles: Iterable[str],
    factor: SecondFactor | None,
    step: int | None,
    code: str | None,
) -> None:
    """After the password proved right: refuse the sign-in (401) unless the account needs no
    second factor or `step` (the presented code's) is spent here, once."""
    if not required(rt, roles, factor):
        return
    if factor is None:
        raise SecondFactorRequired(
            "Staff accounts sign in with a second factor: enrol one with"
            " `playerplatform admin totp --email ADDRESS`, then sign in with its code."
        )
    if not code:
        raise SecondFactorRequired("Enter the code from your authenticator app.")
    if step is None or not await repository.spend_second_factor_step(uow, user_id, step):
        raise InvalidSecondFactor("This code is wrong, expired or already used.")


async def status(uow: UnitOfWork, principal: Principal) -> SecondFactorStatus:
    factor = await repository.find_second_factor(uow, _user_id(principal))
    if factor is None:
        return SecondFactorStatus(totp="none")
    return SecondFactorStatus(totp="enabled" if factor.confirmed_at else "pending")


async def start_totp(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, *, account: str
) -> TotpEnrolment:
    """Begin enrolling a TOTP factor (a pending one is replaced); `confirm_totp` ends it."""
    user_id = _user_id(principal)
    if await enabled_factor(uow, user_id) is not None:
        raise Conflict(
            "A second factor is enrolled already; disable it first.",
            code="second_factor_enrolled",
        )
    secret = totp.new_secret()
    await repository.start_second_factor(uow, user_id, secret)
    await audit.record(
        uow,
        action="auth.second_factor_start",
        resource_type="user",
        resource_id=principal.subject,
        actor=principal,
        client=client,
    )
    return TotpEnrolment(
        secret=secret,
        otpauth_uri=totp.provisioning_uri(secret, account=account, issuer=rt.settings.jwt_issuer),
    )


async def confirm_totp(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, code: str
) -> SecondFactorStatus:
    """Enable the pending factor with a first code from the app (proof it was set up)."""
    user_id = _user_id(principal)
    factor = await repository.find_second_factor(uow, user_id)
    if factor is None or factor.confirmed_at is not None:
        raise NotFound("No second factor is being enrolled.")
    step = accepted_step(factor, code)
    if step is None:
        raise ValidationFailed(
            "This code is wrong or expired.", field="code", code="invalid_second_factor"
        )
    await repository.confirm_second_factor(uow, user_id, step)
    await audit.record(
        uow,
        action="auth.second_factor_enabled",
        resource_type="user",
        resource_id=principal.subject,
        actor=principal,
        client=client,
    )
    return SecondFactorStatus(totp="enabled")


async def disable_totp(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, code: str
) -> SecondFactorStatus:
    """Remove the factor, with a current code (a stolen access token alone cannot)."""
    user_id = _user_id(principal)
    factor = await enabled_factor(uow, user_id)
    if factor is None:
        raise NotFound("No second factor is enrolled.")
    if rt.settings.staff_totp_required and is_staff(principal.roles):
        raise Conflict("Staff accounts must keep a second factor.", code="second_factor_required")
    subject = f"totp:{principal.subject}"
    await rt.limiter.check_failed_logins(client.ip, subject)
    step = accepted_step(factor, code)
    if step is None or not await repository.spend_second_factor_step(uow, user_id, step):
        await rt.limiter.record_failed_login(client.ip, subject)
        raise InvalidSecondFactor("This code is wrong, expired or already used.")
    await repository.delete_second_factor(uow, user_id)
    await audit.record(
        uow,
        action="auth.second_factor_disabled",
        resource_type="user",
        resource_id=principal.subject,
        actor=principal,
        client=client,
    )
    return SecondFactorStatus(totp="none")


async def enrol_by_operator(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, account: str) -> str:
    """A confirmed factor, set by an operator (`playerplatform admin totp`) for a staff
    member who cannot sign in without one. Returns the `otpauth://` URI to hand over."""
    secret = totp.new_secret()
    await repository.start_second_factor(uow, user_id, secret)
    await repository.confirm_second_factor(uow, user_id, 0)
    return totp.provisioning_uri(secret, account=account, issuer=rt.settings.jwt_issuer)


def _user_id(principal: Principal) -> uuid.UUID:
    assert principal.user_id is not None
    return principal.user_id
