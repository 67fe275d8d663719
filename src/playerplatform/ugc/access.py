"""Views of items shared by the ugc modules: who may see an item, its wire shape, and the
metadata cache (five minutes in the hot store, dropped after every committed change)."""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import AppError, Forbidden, NotFound
from playerplatform.ugc import repository
from playerplatform.ugc.models import Ugc
from playerplatform.ugc.schemas import RatingOut, UgcOut
from playerplatform.users import service as users
from playerplatform.users.schemas import PublicUserOut
from playerplatform.users.service import public_out

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal

DELETED = "deleted"  # status_reason of an item its creator deleted
NOT_CLEARED = frozenset({"infected", "unsafe", "changed"})  # scan states never served


class InvalidTransition(AppError):
    status, code, title = 409, "invalid_transition", "Not possible in the item's status"


def new_public_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


# Who sees what.


def is_creator(item: Ugc, viewer: Principal | None) -> bool:
    return viewer is not None and viewer.user_id is not None and viewer.user_id == item.creator_id


def is_moderator(viewer: Principal | None) -> bool:
    return viewer is not None and viewer.kind == "user" and viewer.has_role("moderator")


def can_see(
    viewer: Principal | None,
    *,
    creator_id: uuid.UUID,
    status: str,
    visibility: str,
    reason: str | None,
) -> bool:
    """Published public and unlisted items: everyone. Anything else: its creator (not after
    deleting it) and moderators. Everyone else gets 404, so nothing leaks that it exists."""
    if is_moderator(viewer):
        return True
    if viewer is not None and viewer.user_id == creator_id:
        return reason != DELETED
    return status == "published" and visibility in ("public", "unlisted")


async def visible_item(
    uow: UnitOfWork, public_id: str, viewer: Principal | None, *, for_update: bool = False
) -> Ugc:
    return seen_by(viewer, await repository.get_item(uow, public_id, for_update=for_update))


V = TypeVar("V")  # an item row, or the columns of it a caller locked


def seen_by(viewer: Principal | None, item: V | None) -> V:
    """`item` when `viewer` may see it; 404 otherwise, as for an item that does not exist.
    `item` has the columns `can_see` reads: `creator_id`, `status`, `visibility`,
    `status_reason`."""
    row: Any = item
    if item is None or not can_see(
        viewer,
        creator_id=row.creator_id,
        status=row.status,
        visibility=row.visibility,
        reason=row.status_reason,
    ):
        raise NotFound("No such item.")
    return item


async def own_item(
    uow: UnitOfWork, public_id: str, principal: Principal, *, for_update: bool = False
) -> Ugc:
    """An item of the caller's own; 404 when it is not visible to them, 403 when it is but
    belongs to someone else."""
    item = await visible_item(uow, public_id, principal, for_update=for_update)
    if not is_creator(item, principal):
        raise Forbidden("Only the item's creator can do this.")
    return item


async def creator_canonical_id(uow: UnitOfWork, item: Ugc) -> str:
    """The creator's canonical id (audit subjects)."""
    user = await users.lookup_user(uow, item.creator_id)
    return user.canonical_id if user else ""


def item_out(item: Ugc, creator: PublicUserOut, *, privileged: bool = True) -> UgcOut:
    return UgcOut(
        ugc_id=item.public_id,
        creator=creator,
        type=item.type,
        name=item.name,
        description=item.description,
        tags=list(item.tags),
        metadata=dict(item.item_metadata),
        status=item.status,
        visibility=item.visibility,
        checksum=item.checksum,
        size=item.size,
        content_type=item.content_type,
        filename=item.filename,
        downloads_count=item.downloads_count,
        rating=RatingOut(average=round(item.rating_average, 3), count=item.rating_count),
        created_at=item.created_at,
        published_at=item.published_at,
        status_reason=item.status_reason if privileged else None,
        status_note=item.status_note if privileged else None,
        scan=item.scan_state if privileged else None,
    )


async def items_out(uow: UnitOfWork, items: list[Ugc], *, privileged: bool = False) -> list[UgcOut]:
    """Items with their creators' public profiles, loaded for the whole list at once."""
    creators = await repository.creators(uow, {i.creator_id for i in items})
    out = []
    for item in items:
        user, profile = creators[item.creator_id]
        out.append(item_out(item, public_out(user, profile), privileged=privileged))
    return out


async def one_out(uow: UnitOfWork, item: Ugc, *, privileged: bool = True) -> UgcOut:
    return (await items_out(uow, [item], privileged=privileged))[0]


LISTINGS_OWNER = "ugc-listings"  # the owner of browse pages and the hot feed (`kit.views`)


def item_owner(public_id: str) -> str:
    """The owner of an item's cached view (`kit.views`)."""
    return f"ugc:{public_id}"


def forget_cached(uow: UnitOfWork, *public_ids: str, listed: bool = True) -> None:
    """The cached views of these items are stale once the unit of work commits; with
    `listed`, browse pages and the hot feed too (a change of status, visibility, name or
    tags). Counters (downloads, ratings) do not renew the lists: those lag by the lists'
    time to live instead."""
    views.changed(uow, *(item_owner(public_id) for public_id in public_ids))
    if listed and public_ids:
        views.changed(uow, LISTINGS_OWNER)
