"""The catalog: SKUs players can buy (`durable`, `consumable`, `bundle`) and their mapping to
each platform's items. Staff create, change and deactivate SKUs; every change is audited.

A SKU's type never changes (what was granted under it would change meaning); deactivating
takes it off sale without touching what players already hold.
"""

from __future__ import annotations

from typing import Any

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.commerce import repository
from playerplatform.commerce.models import Sku
from playerplatform.commerce.schemas import (
    BundleLine,
    SkuCursor,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from playerplatform.commerce.wallet import forget_catalog
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import Conflict, NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.views import Views


def sku_out(sku: Sku) -> SkuOut:
    return SkuOut(
        sku_id=sku.sku_id,
        type=sku.type,
        name=sku.name,
        description=sku.description,
        is_active=sku.is_active,
        metadata=dict(sku.sku_metadata or {}),
        quantity=sku.quantity,
        contents=[BundleLine(**line) for line in sku.contents or []],
    )


def _state(sku: Sku) -> dict[str, Any]:
    return sku_out(sku).model_dump(mode="json")


async def list_catalog(
    uow: UnitOfWork, page: PageParams, *, include_inactive: bool = False
) -> Page[SkuOut]:
    """SKUs by id: the active catalog for players, everything for staff."""
    after = decode_cursor(page.cursor, SkuCursor)
    rows = await repository.list_skus(
        uow,
        active_only=not include_inactive,
        after=after.s if after else None,
        limit=page.limit + 1,
    )
    return paginate(rows, page.limit, lambda s: SkuCursor(s=s.sku_id), sku_out)


async def get_sku(uow: UnitOfWork, sku_id: str) -> SkuOut:
    sku = await repository.get_sku(uow, sku_id)
    if sku is None:
        raise NotFound(f"No SKU '{sku_id}'.")
    return sku_out(sku)


async def _check_contents(uow: UnitOfWork, lines: list[BundleLine], own_id: str) -> None:
    ids = [line.sku_id for line in lines]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("A bundle lists each SKU once.", field="contents")
    found = await repository.get_skus(uow, ids)
    for line in lines:
        inner = found.get(line.sku_id)
        if inner is None or line.sku_id == own_id:
            raise ValidationFailed(f"Unknown SKU '{line.sku_id}' in contents.", field="contents")
        if inner.type == "bundle":
            raise ValidationFailed("A bundle cannot contain a bundle.", field="contents")


async def _check_epic_mapping(uow: UnitOfWork, metadata: dict[str, Any], own_id: str) -> None:
    item = (metadata.get("epic") or {}).get("catalog_item_id")
    if item:
        taken = (await repository.skus_by_epic_item(uow, [item])).get(item)
        if taken is not None and taken.sku_id != own_id:
            raise Conflict(
                f"Epic catalog item '{item}' already maps to SKU '{taken.sku_id}'.",
                code="catalog_item_in_use",
            )


def _epic_item(metadata: dict[str, Any]) -> str | None:
    epic = metadata.get("epic") or {}
    item = epic.get("catalog_item_id") if isinstance(epic, dict) else None
    return str(item) if item else None


CATALOG_OWNER = "catalog"  # the owner of the catalog's cached views (`kit.views`)


async def catalog_json(uow: UnitOfWork, cache: Views, page: PageParams) -> bytes:
    """A page of the active catalog (`GET /commerce/skus`), encoded, from the cached view while
    it is current."""

    async def load() -> bytes:
        return (await list_catalog(uow, page)).model_dump_json().encode()

    return await cache.read(CATALOG_OWNER, page.view_name("skus"), load)


def _after_change(uow: UnitOfWork) -> None:
    views.changed(uow, CATALOG_OWNER)

    async def forget() -> None:
        forget_catalog()

    uow.after_commit(forget)


async def create_sku(
    uow: UnitOfWork, *, actor: Principal, body: SkuIn, client: ClientInfo
) -> SkuOut:
    """Add a SKU to the catalog (audited); 409 `sku_exists` when the id is taken."""
    metadata = body.metadata.model_dump(mode="json", exclude_none=True)
    if body.type == "bundle":
        await _check_contents(uow, body.contents, body.sku_id)
    await _check_epic_mapping(uow, metadata, body.sku_id)
    now = utcnow()
    inserted = await repository.insert_sku(
        uow,
        {
            "id": new_uuid(),
            "sku_id": body.sku_id,
            "type": body.type,
            "name": body.name,
            "description": body.description,
            "is_active": body.is_active,
            "metadata": metadata,
            "quantity": body.quantity if body.type == "consumable" else 1,
            "contents": [line.model_dump() for line in body.contents],
            "epic_catalog_item_id": _epic_item(metadata),
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        raise Conflict(f"The SKU '{body.sku_id}' exists already.", code="sku_exists")
    sku = await repository.get_sku(uow, body.sku_id)
    assert sku is not None
    await audit.record(
        uow,
        action="commerce.sku_create",
        resource_type="sku",
        resource_id=sku.sku_id,
        actor=actor,
        new=_state(sku),
        client=client,
    )
    _after_change(uow)
    return sku_out(sku)


async def update_sku(
    uow: UnitOfWork, *, actor: Principal, sku_id: str, patch: SkuPatch, client: ClientInfo
) -> SkuOut:
    """Change a SKU's fields (not its type), or take it off sale with `is_active: false`."""
    sku = await repository.get_sku(uow, sku_id, for_update=True)
    if sku is None:
        raise NotFound(f"No SKU '{sku_id}'.")
    old = _state(sku)
    changes = patch.model_dump(exclude_unset=True)
    if "contents" in changes:
        if sku.type != "bundle" or patch.contents is None:
            raise ValidationFailed("Only bundles have contents.", field="contents")
        await _check_contents(uow, patch.contents, sku.sku_id)
        sku.contents = [line.model_dump() for line in patch.contents]
    if "quantity" in changes and patch.quantity is not None:
        if sku.type != "consumable":
            raise ValidationFailed("Only consumables have a quantity.", field="quantity")
        sku.quantity = patch.quantity
    if patch.metadata is not None:
        metadata = patch.metadata.model_dump(mode="json", exclude_none=True)
        await _check_epic_mapping(uow, metadata, sku.sku_id)
        sku.sku_metadata = metadata
        sku.epic_catalog_item_id = _epic_item(metadata)
    for name in ("name", "description", "is_active"):
        value = getattr(patch, name)
        if name in changes and value is not None:
            setattr(sku, name, value)
    sku.updated_at = utcnow()
    await uow.session.flush()
    await audit.record(
        uow,
        action="commerce.sku_update",
        resource_type="sku",
        resource_id=sku.sku_id,
        actor=actor,
        old=old,
        new=_state(sku),
        client=client,
    )
    _after_change(uow)
    return sku_out(sku)
