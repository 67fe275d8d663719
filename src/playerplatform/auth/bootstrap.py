"""Staff accounts: the bootstrap admin created at start-up, and `playerplatform admin create`."""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from playerplatform.audit import service as audit
from playerplatform.auth import repository, second_factor
from playerplatform.auth.email import claim_for_mailbox_owner
from playerplatform.auth.passwords import check_strength, hash_password, verify_password
from playerplatform.auth.schemas import canonical_email
from playerplatform.auth.sessions import publish_user, revoke_user_sessions
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import User

log = structlog.get_logger("playerplatform.auth")
STAFF_ROLES = {"moderator": ["player", "moderator"], "admin": ["player", "moderator", "admin"]}


async def create_staff_account(
    runtime: Runtime, *, email: str, password: str | None, role: str = "admin"
) -> tuple[str, bool]:
    """Create a staff member signing in by email, or promote the account that already has
    this email (and set its password when one is given). Returns (canonical_id, created)."""
    if role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {sorted(STAFF_ROLES)}")
    email = canonical_email(email)
    secret_hash = None
    if password is not None:
        check_strength(password, email=email)
        secret_hash = await hash_password(password)
    async with runtime.db.unit_of_work() as uow:
        identity = await repository.find_identity(uow, "email", email)
        if identity is None:
            if secret_hash is None:
                raise ValueError("a password is needed to create a new staff account")
            user = await users.create_user(uow, roles=STAFF_ROLES[role], email_verified=True)
            await repository.claim_identity(
                uow,
                user_id=user.id,
                provider="email",
                provider_id=email,
                secret_hash=secret_hash,
                data={"verified": True},
            )
            repository.add_link_record(
                uow, user_id=user.id, provider="email", provider_id=email, action="link"
            )
            created, old_roles = True, []
        else:
            found = await users_repository.get_user(uow, identity.user_id)
            assert found is not None
            user = found
            created, old_roles = False, list(user.roles)
            if not identity.data.get("verified"):
                # Whoever registered the address may not own it: the operator's word makes
                # it the staff member's, with a password of theirs and nobody else's way in.
                if secret_hash is None:
                    raise ValueError(
                        "this address was never verified: give a password to take it over"
                    )
                await claim_for_mailbox_owner(uow, runtime, user, identity)
                await revoke_user_sessions(uow, runtime.hot, user, reason="staff_grant")
            user.roles = sorted(set(user.roles) | set(STAFF_ROLES[role]))
            if secret_hash is not None:
                identity.secret_hash = secret_hash
        publish_user(uow, runtime.hot, user)
        await audit.record(
            uow,
            action="user.staff_create" if created else "user.roles_change",
            resource_type="user",
            resource_id=user.canonical_id,
            actor=None,
            subjects=[user.canonical_id],
            old={"roles": old_roles},
            new={"roles": user.roles},
        )
        return user.canonical_id, created


async def admin_exists(runtime: Runtime) -> bool:
    async with runtime.db.unit_of_work(write=False) as uow:
        query = (
            sa.select(User.id)
            .where(sa.cast(User.roles, sa.String).like('%"admin"%'), User.status == "active")
            .limit(1)
        )
        return (await uow.session.execute(query)).first() is not None


async def ensure_bootstrap_admin(runtime: Runtime) -> None:
    """Create the admin named by PP_BOOTSTRAP_ADMIN_EMAIL when no admin exists yet."""
    settings = runtime.settings
    if not settings.bootstrap_admin_email or await admin_exists(runtime):
        return
    if settings.bootstrap_admin_password is None:
        log.warning("bootstrap_admin_skipped", reason="PP_BOOTSTRAP_ADMIN_PASSWORD is not set")
        return
    canonical_id, _ = await create_staff_account(
        runtime,
        email=settings.bootstrap_admin_email,
        password=settings.bootstrap_admin_password.get_secret_value(),
        role="admin",
    )
    log.info("bootstrap_admin_created", canonical_id=canonical_id)
    if settings.staff_totp_required:
        log.warning(
            "bootstrap_admin_needs_second_factor",
            hint="staff sign in with a TOTP code: run `playerplatform admin totp --email ...`",
        )


async def enrol_staff_totp(runtime: Runtime, *, email: str) -> str:
    """`playerplatform admin totp`: give the staff member signing in with `email` a new TOTP
    factor (replacing theirs) and return its `otpauth://` URI, for a staff member who cannot
    sign in without one yet or lost their device. The operator hands the URI over."""
    email = canonical_email(email)
    async with runtime.db.unit_of_work() as uow:
        identity = await repository.find_identity(uow, "email", email)
        user = await users_repository.get_user(uow, identity.user_id) if identity else None
        if user is None or not second_factor.is_staff(user.roles):
            raise ValueError(f"no staff account signs in with {email}")
        uri = await second_factor.enrol_by_operator(uow, runtime, user.id, email)
        revoked = await revoke_user_sessions(uow, runtime.hot, user, reason="second_factor_reset")
        await audit.record(
            uow,
            action="auth.second_factor_reset",
            resource_type="user",
            resource_id=user.canonical_id,
            actor=None,
            subjects=[user.canonical_id],
            new={"revoked_sessions": len(revoked)},
        )
        return uri


async def bootstrap_sign_in(runtime: Runtime) -> tuple[bool, str]:
    """After `ensure_bootstrap_admin`: whether PP_BOOTSTRAP_ADMIN_EMAIL with
    PP_BOOTSTRAP_ADMIN_PASSWORD signs in as an admin right now, and why not when it does not
    (so a start-up banner names only an account that exists, with a password that works)."""
    settings = runtime.settings
    if not settings.bootstrap_admin_email:
        return False, "PP_BOOTSTRAP_ADMIN_EMAIL is not set"
    if settings.bootstrap_admin_password is None:
        return False, "PP_BOOTSTRAP_ADMIN_PASSWORD is not set"
    email = canonical_email(settings.bootstrap_admin_email)
    async with runtime.db.unit_of_work(write=False) as uow:
        identity = await repository.find_identity(uow, "email", email)
        user = await users_repository.get_user(uow, identity.user_id) if identity else None
    if identity is None or user is None:
        return False, f"another admin already existed, so {email} was not created"
    if user.status != "active" or "admin" not in user.roles:
        return False, f"{email} exists but is not an active admin"
    password = settings.bootstrap_admin_password.get_secret_value()
    if not await verify_password(identity.secret_hash, password):
        return False, f"{email} exists but its password has been changed since"
    return True, email
