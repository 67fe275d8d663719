"""Staff accounts: the bootstrap admin created at start-up, and `playerplatform admin create`."""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from playerplatform.audit import service as audit
from playerplatform.auth import repository
from playerplatform.auth.email import normalize_email
from playerplatform.auth.passwords import check_strength, hash_password
from playerplatform.auth.sessions import publish_user
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
    email = normalize_email(email)
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
