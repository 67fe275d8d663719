"""Staff grants, and what commerce contributes to account merges and the admin user view.

Merge rules (documented for studios): the source account's orders and entitlements move to
the target as they are; each non-zero balance moves as two ledger entries, one taking it
off the source (`spend`, or `grant` for a debt) and one adding it to the target (`grant`,
or `clawback` for a debt), both with reason `merge`, so both ledgers still add up and a
debt follows the player.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.commerce import grant_statement, repository
from playerplatform.commerce.orders import list_orders
from playerplatform.commerce.schemas import BalanceOut, EntitlementOut, GrantIn, GrantOut
from playerplatform.commerce.wallet import (
    balances_view,
    entitlement_out,
    entitlements_view,
    grant_parts,
    note_ownership_change,
    ownership_key,
    parts_of,
    post_entry,
    require_sku,
    wallet_owner,
)
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import PageParams
from playerplatform.users import service as users
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def admin_grant(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    canonical_id: str,
    body: GrantIn,
    key: str | None,
    client: ClientInfo,
) -> GrantOut:
    """Grant a SKU (inactive ones too: make-goods) to a player. Audited. With an
    Idempotency-Key the grant keys derive from it, so even a replay past the key's lifetime
    grants nothing twice."""
    user = await users.get_by_canonical(uow, canonical_id)
    sku = await require_sku(uow, body.sku_id, active=False)
    parts = await parts_of(uow, sku, body.quantity)
    if body.quantity > 1 and any(part.kind == "durable" for part in parts):
        raise ValidationFailed(
            f"'{sku.sku_id}' grants a durable item, owned once: grant it with quantity 1.",
            field="quantity",
        )
    prefix = f"admin:{actor.actor_id}:{key}" if key else f"admin:{secrets.token_hex(12)}"
    if body.as_gift:
        return await _gift(uow, rt, actor=actor, user=user, body=body, key=key, client=client)
    granted = await grant_parts(
        uow,
        rt.hot,
        rt.settings,
        user_id=user.id,
        parts=parts,
        key_prefix=prefix[:200],
        source="admin",
        reason=body.reason,
    )
    await audit.record(
        uow,
        action="commerce.grant",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        new={
            "sku_id": sku.sku_id,
            "quantity": body.quantity,
            "reason": body.reason,
            "new": granted,
        },
        client=client,
    )
    return GrantOut(
        entitlements=await entitlements_view(uow, user.id),
        balances=await balances_view(uow, user.id),
    )


async def _gift(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    user: User,
    body: GrantIn,
    key: str | None,
    client: ClientInfo,
) -> GrantOut:
    """The grant as a `gift` message the player claims from their inbox."""
    message_id = await rt.notify(
        uow,
        rt,
        user.id,
        "gift",
        title="A gift for you",
        body=body.reason,
        attachments=[{"sku_id": body.sku_id, "quantity": body.quantity}],
        key=f"admin-gift:{actor.actor_id}:{key}"[:255] if key else None,
    )
    await audit.record(
        uow,
        action="commerce.gift",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        new={"sku_id": body.sku_id, "quantity": body.quantity, "message_id": message_id},
        client=client,
    )
    return GrantOut(
        entitlements=await entitlements_view(uow, user.id),
        balances=await balances_view(uow, user.id),
        message_id=message_id,
    )


async def merge_commerce(
    uow: UnitOfWork, runtime: Runtime, source: User, target: User
) -> dict[str, Any] | None:
    """Move orders, entitlements and balances from `source` to `target` (merge hook)."""
    views.changed(uow, wallet_owner(source.id), wallet_owner(target.id))
    orders = await repository.move_orders(uow, source.id, target.id)
    moved_skus = await repository.move_entitlements(uow, source.id, target.id)
    balances: dict[str, int] = {}
    for balance in await repository.balances_of(uow, source.id):
        amount = balance.balance
        if amount == 0:
            continue
        tag = f"merge:{source.canonical_id}:{target.canonical_id}:{balance.sku_id}"
        await post_entry(
            uow,
            user_id=source.id,
            sku_id=balance.sku_id,
            change=-amount,
            change_type="spend" if amount > 0 else "grant",
            reason=f"merge into {target.canonical_id}",
            grant_key=f"{tag}:out",
            allow_negative=True,
        )
        await post_entry(
            uow,
            user_id=target.id,
            sku_id=balance.sku_id,
            change=amount,
            change_type="grant" if amount > 0 else "clawback",
            reason=f"merge from {source.canonical_id}",
            grant_key=f"{tag}:in",
            allow_negative=True,
        )
        balances[balance.sku_id] = amount
    if moved_skus:
        ttl = runtime.settings.commerce_ownership_cache_seconds
        for sku_id in set(moved_skus):
            for user_id in (source.id, target.id):
                await note_ownership_change(uow, runtime.hot, ttl, user_id, sku_id)
    if not (orders or moved_skus or balances):
        return None
    return {"orders": orders, "entitlements": len(moved_skus), "balances": balances}


async def entitlements_section(uow: UnitOfWork, user_id: uuid.UUID) -> Any:
    return [e.model_dump(mode="json") for e in await entitlements_view(uow, user_id)]


async def balances_section(uow: UnitOfWork, user_id: uuid.UUID) -> Any:
    return [b.model_dump(mode="json") for b in await balances_view(uow, user_id)]


ORDERS_SECTION_LIMIT = 50


async def orders_section(uow: UnitOfWork, user_id: uuid.UUID) -> Any:
    """The player's latest orders, so staff can refund one without looking its id up."""
    page = await list_orders(uow, user_id, PageParams(limit=ORDERS_SECTION_LIMIT, cursor=None))
    return [o.model_dump(mode="json") for o in page.items]


# -- SKU lines promised in messages (inbox attachments, season rewards). ----------------------


async def check_lines(uow: UnitOfWork, lines: Sequence[Mapping[str, Any]], *, field: str) -> None:
    """Refuse lines a player could not be granted: an unknown or inactive SKU, a quantity
    below 1, or more than one of a durable item. Checked when the message is sent, so a claim
    never fails on the catalog."""
    skus = await repository.get_skus(uow, [str(line["sku_id"]) for line in lines])
    for n, line in enumerate(lines):
        sku = skus.get(str(line["sku_id"]))
        if sku is None or not sku.is_active:
            raise ValidationFailed(
                f"'{line['sku_id']}' is not an active SKU.", field=f"{field}[{n}].sku_id"
            )
        quantity = int(line.get("quantity", 1))
        if quantity < 1:
            raise ValidationFailed("must be at least 1", field=f"{field}[{n}].quantity")
        parts = await parts_of(uow, sku, quantity)
        if quantity > 1 and any(part.kind == "durable" for part in parts):
            raise ValidationFailed(
                f"'{sku.sku_id}' grants a durable item, owned once: send quantity 1.",
                field=f"{field}[{n}].quantity",
            )


async def grant_lines(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    lines: Sequence[Mapping[str, Any]],
    key: str,
    reason: str,
) -> GrantOut:
    """Grant SKU lines once per `key` (a second call with the same key grants nothing), in
    the caller's transaction. Returns the entitlements `key` granted and the balances of
    the consumables it touched."""
    touched: set[str] = set()
    durable = False
    for n, line in enumerate(lines):
        sku = await require_sku(uow, str(line["sku_id"]), active=False)
        parts = await parts_of(uow, sku, int(line.get("quantity", 1)))
        touched.update(part.sku_id for part in parts if part.kind != "durable")
        durable = durable or any(part.kind == "durable" for part in parts)
        await grant_parts(
            uow,
            rt.hot,
            rt.settings,
            user_id=user_id,
            parts=parts,
            key_prefix=f"{key}:{n}"[:200],
            source="inbox",
            reason=reason,
        )
    granted = await repository.entitlements_granted_by(uow, user_id, f"{key}:") if durable else []
    balances = (
        [b for b in await balances_view(uow, user_id) if b.sku_id in touched] if touched else []
    )
    return GrantOut(entitlements=[entitlement_out(e) for e in granted], balances=balances)


async def grant_lines_at_once(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    canonical_id: str,
    lines: Sequence[Mapping[str, Any]],
    key: str,
    reason: str,
) -> GrantOut:
    """`grant_lines` in one statement on PostgreSQL (the same parts, grant keys, ledger
    entries and answer; see `grant_statement`), for hot paths such as inbox claims;
    on SQLite, `grant_lines`. The caller must keep two grants with the same `key` from
    running at once (a claim holds its message's row): the keys' uniqueness then fails the
    second transaction instead of granting twice. 404 when a line's SKU does not exist."""
    if uow.dialect != "postgresql":
        return await grant_lines(uow, rt, user_id=user_id, lines=lines, key=key, reason=reason)
    lines_json = orjson.dumps(
        [
            {"sku_id": str(line["sku_id"]), "quantity": int(line.get("quantity", 1))}
            for line in lines
        ]
    ).decode()
    rows = await _in_one_statement(
        uow,
        user_id=user_id,
        lines=lines_json,
        key=key,
        source="inbox",
        reason=reason[:200] or None,
        now=utcnow(),
    )
    return _granted(uow, rt, rows, user_id=user_id, canonical_id=canonical_id)


async def grant_lines_from(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    canonical_id: str,
    source: str,
    values: Mapping[str, Any],
    key: str,
    reason: str,
) -> tuple[GrantOut, dict[str, Any] | None]:
    """PostgreSQL only: grant the SKU lines another domain's statement yields, in that same
    statement, once per `key`. `source` is SQL defining the relation `src` (an UPDATE ...
    RETURNING of the caller's own table, say) with a jsonb array column `attachments` of
    `{sku_id, quantity}`; `values` binds its parameters, each named `src_*`. Returns what
    was granted and the row of `src` (its columns decoded from JSON: timestamps as ISO
    text), or None when `src` yielded no row (then nothing was granted). 404 when a line's
    SKU does not exist (the statement fails whole: nothing of it sticks)."""
    rows = await _in_one_statement(
        uow,
        user_id=user_id,
        lines=None,
        key=key,
        source="inbox",
        reason=reason[:200] or None,
        now=utcnow(),
        lines_from=(source, dict(values)),
    )
    found = [row.payload for row in rows if row.what == "s"]
    granted = _granted(uow, rt, rows, user_id=user_id, canonical_id=canonical_id)
    return granted, (orjson.loads(found[0]) if found else None)


async def _in_one_statement(uow: UnitOfWork, **arguments: Any) -> list[Any]:
    try:
        return await grant_statement.grant_lines_in_one_statement(uow, **arguments)
    except grant_statement.MissingSku as missing:
        raise NotFound(f"No SKU '{missing.sku_id}'.") from None


def _granted(
    uow: UnitOfWork, rt: Runtime, rows: list[Any], *, user_id: uuid.UUID, canonical_id: str
) -> GrantOut:
    """The answer of a one-statement grant, from its rows (see `grant_statement`);
    the wallet's views renewed and ownership published after the commit."""
    entitlements = sorted(
        (
            EntitlementOut(
                entitlement_id=row.entitlement_id,
                sku_id=row.sku_id,
                status=row.status,
                revocation_reason=row.revocation_reason,
                source=row.source,
                order_id=None,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
            )
            for row in rows
            if row.what in ("g", "e")
        ),
        key=lambda e: e.created_at,
    )
    balances = sorted(
        (
            BalanceOut(sku_id=row.sku_id, balance=row.balance)
            for row in rows
            if row.what in ("m", "b")
        ),
        key=lambda b: b.sku_id,
    )
    if any(row.what in ("g", "m") for row in rows):
        views.changed(uow, wallet_owner(user_id))
    granted = {row.sku_id for row in rows if row.what == "g"}
    if granted:
        _publish_ownership(uow, rt, canonical_id, granted)
    return GrantOut(entitlements=entitlements, balances=balances)


def _publish_ownership(uow: UnitOfWork, rt: Runtime, canonical_id: str, sku_ids: set[str]) -> None:
    """After the commit, the cached ownership of SKUs just granted is `1` (a grant only adds:
    what the player owned stays owned), as `note_ownership_change` would publish it."""
    ttl = rt.settings.commerce_ownership_cache_seconds

    async def publish() -> None:
        for sku_id in sorted(sku_ids):
            await rt.hot.set(ownership_key(canonical_id, sku_id), "1", ttl=ttl)

    uow.after_commit(publish)
