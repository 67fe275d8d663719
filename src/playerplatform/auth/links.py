"""Linking identities to an account, unlinking them, and merging two accounts."""

from __future__ import annotations

from typing import Any

from playerplatform.audit import service as audit
from playerplatform.auth import email as email_auth
from playerplatform.auth import repository
from playerplatform.auth.deps import Principal
from playerplatform.auth.providers import masked_provider_id
from playerplatform.auth.schemas import MergeResponse
from playerplatform.auth.service import VerifiedIdentity
from playerplatform.auth.sessions import publish_user, revoke_user_sessions
from playerplatform.auth.state import forget_user_view
from playerplatform.auth.tokens import issue_merge_token, merge_audience
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import AccountBanned, Conflict, Forbidden, InvalidToken, NotFound
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.http import ClientInfo
from playerplatform.runtime import Runtime
from playerplatform.users import repository as users_repository
from playerplatform.users import service as users
from playerplatform.users.models import User
from playerplatform.users.schemas import UserOut

# A player may hold several devices, but one account per platform.
MULTI_PROVIDERS = frozenset({"device"})


class EmailUnverified(Forbidden):
    code, title = "email_unverified", "Verify the account's email address first"


async def _ensure_email_verified(uow: UnitOfWork, user: User, *, whose: str) -> None:
    """Anyone can register or link an address they do not own; until its owner verifies it,
    nothing more may be joined to that account (its owner's password reset would otherwise
    hand them an account a stranger can still sign in to)."""
    for identity in await repository.list_identities(uow, user.id):
        if identity.provider == "email" and not identity.data.get("verified"):
            raise EmailUnverified(
                f"{whose} email address is not verified yet: verify it before joining other"
                " identities or accounts to it."
            )


async def link(
    uow: UnitOfWork,
    rt: Runtime,
    client: ClientInfo,
    principal: Principal,
    verified: VerifiedIdentity,
) -> UserOut:
    """Attach `verified` to the caller. When another account owns it, 409 `identity_in_use`
    carries a `merge_token` the caller can spend on `POST /auth/merge`."""
    user = await users.get_user(uow, _uid(principal))
    await _ensure_email_verified(uow, user, whose="This account's")
    existing = await repository.find_identity(uow, verified.provider, verified.provider_id)
    if existing is not None:
        if existing.user_id == user.id:
            return await users.user_view(uow, user.id)
        owner = await users_repository.get_user(uow, existing.user_id)
        assert owner is not None
        token = await issue_merge_token(
            rt.keys,
            rt.settings,
            target=user.canonical_id,
            source=owner.canonical_id,
            provider=verified.provider,
            provider_id=verified.provider_id,
        )
        raise Conflict(
            "Another account owns this identity. Merge it into yours with the merge token.",
            code="identity_in_use",
            extra={"merge_token": token, "merge_token_expires_in": rt.settings.merge_token_ttl},
        )
    if verified.provider not in MULTI_PROVIDERS:
        mine = await repository.list_identities(uow, user.id)
        if any(i.provider == verified.provider for i in mine):
            raise Conflict(
                f"This account already has a {verified.provider} identity; unlink it first.",
                code="provider_already_linked",
            )
    claimed = await repository.claim_identity(
        uow,
        user_id=user.id,
        provider=verified.provider,
        provider_id=verified.provider_id,
        secret_hash=verified.secret_hash,
        data=verified.data,
    )
    if claimed is None:
        raise Conflict("Another account claimed this identity just now.", code="identity_in_use")
    repository.add_link_record(
        uow,
        user_id=user.id,
        provider=verified.provider,
        provider_id=verified.provider_id,
        action="link",
    )
    if verified.provider == "email":  # a new address: its owner is asked to confirm it
        await email_auth.send_email_token(uow, rt, user, verified.provider_id, email_auth.VERIFY)
    forget_user_view(uow, rt.hot, user.canonical_id)
    for hook in rt.wiring.link_hooks:  # other domains' follow-ups (Twitch drops waiting)
        await hook.linked(uow, rt, user, verified.provider, verified.provider_id)
    await audit.record(
        uow,
        action="auth.link",
        resource_type="identity",
        resource_id=_shown(verified.provider, verified.provider_id),
        actor=principal,
        new={
            "provider": verified.provider,
            "provider_id": masked_provider_id(verified.provider, verified.provider_id),
        },
        client=client,
    )
    return await users.user_view(uow, user.id)


async def unlink(
    uow: UnitOfWork,
    hot: HotStore,
    client: ClientInfo,
    principal: Principal,
    provider: str,
    provider_id: str,
) -> UserOut:
    user = await users.get_user(uow, _uid(principal))
    identities = await repository.list_identities(uow, user.id)
    target = next(
        (i for i in identities if i.provider == provider and i.provider_id == provider_id), None
    )
    if target is None:
        raise NotFound("No such identity on this account.")
    if len(identities) == 1:
        raise Conflict("The last identity of an account cannot be unlinked.", code="last_identity")
    await repository.delete_identity(uow, target.id)
    repository.add_link_record(
        uow, user_id=user.id, provider=provider, provider_id=provider_id, action="unlink"
    )
    if provider == "email":
        user.email_verified = False
    forget_user_view(uow, hot, user.canonical_id)
    await audit.record(
        uow,
        action="auth.unlink",
        resource_type="identity",
        resource_id=_shown(provider, provider_id),
        actor=principal,
        old={"provider": provider, "provider_id": masked_provider_id(provider, provider_id)},
        client=client,
    )
    return await users.user_view(uow, user.id)


async def merge(
    uow: UnitOfWork, rt: Runtime, client: ClientInfo, principal: Principal, merge_token: str
) -> MergeResponse:
    """Move everything the merge token's source account owns into the caller's account, in
    this one transaction; the source ends `merged`."""
    claims = await rt.keys.decode(merge_token, audience=merge_audience(rt.settings))
    if claims.get("token_use") != "merge":
        raise InvalidToken("This is not a merge token.")
    if claims.get("sub") != principal.subject:
        raise Forbidden("This merge token was issued to another account.")
    target = await users.get_user(uow, _uid(principal))
    source = await users_repository.get_user_by_canonical(uow, str(claims.get("src")))
    if source is None or source.status == "merged" or source.id == target.id:
        raise Conflict("The other account was already merged.", code="merge_conflict")
    identity = await repository.find_identity(uow, str(claims.get("prv")), str(claims.get("pid")))
    if identity is None or identity.user_id != source.id:
        raise Conflict(
            "The identity moved since the merge token was issued.", code="merge_conflict"
        )
    if source.status == "banned":
        raise AccountBanned("A banned account cannot be merged.")
    await _ensure_email_verified(uow, target, whose="This account's")
    await _ensure_email_verified(uow, source, whose="The other account's")
    # Lock both rows in a stable order so two crossing merges cannot deadlock.
    for user_id in sorted([source.id, target.id]):
        await users_repository.get_user(uow, user_id, for_update=True)
    summary = await _move_everything(uow, rt, source, target)
    source.status = "merged"
    source.merged_into_id = target.id
    revoked = await revoke_user_sessions(uow, rt.hot, source, reason="merged")
    publish_user(uow, rt.hot, source)
    forget_user_view(uow, rt.hot, target.canonical_id)
    await audit.record(
        uow,
        action="auth.merge",
        resource_type="user",
        resource_id=target.canonical_id,
        actor=principal,
        subjects=[source.canonical_id, target.canonical_id],
        old={"source": source.canonical_id, "source_status": "active"},
        new={"merged_into": target.canonical_id, "revoked_sessions": len(revoked), **summary},
        client=client,
    )
    return MergeResponse(
        user=await users.user_view(uow, target.id), merged_from=source.canonical_id
    )


async def _move_everything(
    uow: UnitOfWork, rt: Runtime, source: User, target: User
) -> dict[str, Any]:
    moved = await repository.move_identities(uow, source.id, target.id)
    for identity in moved:
        repository.add_link_record(
            uow,
            user_id=target.id,
            provider=identity.provider,
            provider_id=identity.provider_id,
            action="merge_in",
            other_user_id=source.id,
        )
        repository.add_link_record(
            uow,
            user_id=source.id,
            provider=identity.provider,
            provider_id=identity.provider_id,
            action="merge_out",
            other_user_id=target.id,
        )
    if source.email_verified:
        target.email_verified = True
    summary: dict[str, Any] = {"identities": [_shown(i.provider, i.provider_id) for i in moved]}
    for hook in rt.wiring.merge_hooks:  # each domain's rows, in the wiring's order
        result = await hook.move(uow, rt, source, target)
        if result:
            summary[hook.name] = result
    return summary


def _shown(provider: str, provider_id: str) -> str:
    """An identity as the audit log names it (a device by its fingerprint only)."""
    return f"{provider}:{masked_provider_id(provider, provider_id)}"


def _uid(principal: Principal) -> Any:
    assert principal.user_id is not None
    return principal.user_id
