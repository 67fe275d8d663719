"""Downloads and ratings.

A download answers with a short-lived signed URL of the released copy, counted once per
player, item and UTC day. Only files the scanner cleared (or, unscanned, held for review) are
ever signed: removed items, infected and unsafe files are refused to everyone, moderators
included. Before publication only moderators may download (to review).

Ratings are 1-5, one per player and item, changeable; the item keeps the sum and count (and
their average, for sorting) updated with each rating under a row lock, never by scanning the
ratings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, Forbidden
from playerplatform.ugc import repository
from playerplatform.ugc.access import (
    NOT_CLEARED,
    forget_cached,
    is_moderator,
    seen_by,
    visible_item,
)
from playerplatform.ugc.schemas import MyRatingOut, RatingOut

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime


PUBLIC_OBJECT_MAX_AGE = 86_400


class NotDownloadable(AppError):
    status, code, title = 403, "not_downloadable", "This item cannot be downloaded"


class NotRateable(AppError):
    status, code, title = 409, "not_rateable", "Only published items can be rated"


async def download_url(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, public_id: str
) -> tuple[str, bool]:
    """The signed URL to send the player to, and whether it is a public object (CDN-cacheable
    by its URL). Counts the download when it is the player's first of the day."""
    assert principal.user_id is not None
    item = await visible_item(uow, public_id, principal)
    if (
        item.status == "removed"
        or item.scan_state in NOT_CLEARED
        or item.object_key is None
        or item.object_key.startswith("quarantine/")
    ):
        raise NotDownloadable("This item is not available for download.")
    if item.status != "published" and not is_moderator(principal):
        raise NotDownloadable("This item is not published yet.")
    if item.status == "published" and await repository.count_download(
        uow, item.id, principal.user_id, utcnow().date()
    ):
        forget_cached(uow, item.public_id, listed=False)
    ttl = runtime.settings.ugc_download_url_ttl
    public = item.status == "published" and item.visibility == "public"
    signed = await runtime.objects.signed_get_url(
        item.object_key,
        expires_in=ttl,
        filename=item.filename,
        # A released copy never changes under its key: a CDN may keep public ones.
        cache_control=f"public, max-age={PUBLIC_OBJECT_MAX_AGE}, immutable" if public else None,
    )
    return signed.url, public


async def rate(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, public_id: str, value: int
) -> MyRatingOut:
    """Set the caller's rating of a published item (creators cannot rate their own): the
    checks on the item as read, then the rating and the item's sum and count in one
    statement, which holds the item's row only while it runs (`repository.rate_item`)."""
    assert principal.user_id is not None
    item = seen_by(principal, await repository.rateable(uow, public_id))
    if item.status != "published":
        raise NotRateable("Only published items can be rated.")
    if item.creator_id == principal.user_id:
        raise Forbidden("Creators cannot rate their own items.")
    _sum, count, average = await repository.rate_item(
        uow, item.id, principal.user_id, value, utcnow()
    )
    forget_cached(uow, item.public_id, listed=False)
    return MyRatingOut(
        ugc_id=item.public_id,
        value=value,
        rating=RatingOut(average=round(average, 3), count=count),
    )
