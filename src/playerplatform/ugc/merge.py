"""What the ugc domain moves when two accounts merge (a merge hook, run by `auth.links.merge`):
the source's items, ratings, counted downloads, reports and appeals go to the target.

Where both accounts did the same thing the target's stands: a rating of the same item (the
source's is dropped and the item's sum and count corrected), a download counted the same day,
an open report on the same item (the source's is closed as a duplicate). A rating or an open
report that would leave the target rating or reporting its own item is dropped (closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.ugc.access import forget_cached
from playerplatform.ugc.models import Appeal, Ugc, UgcDownload, UgcRating, UgcReport
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def merge_ugc(
    uow: UnitOfWork, runtime: Runtime, source: User, target: User
) -> dict[str, Any]:
    session = uow.session
    moved_items = list(
        (await session.execute(sa.select(Ugc.public_id).where(Ugc.creator_id == source.id)))
        .scalars()
        .all()
    )
    await session.execute(
        sa.update(Ugc).where(Ugc.creator_id == source.id).values(creator_id=target.id)
    )

    theirs, mine = aliased(UgcRating), aliased(UgcRating)
    rated = (
        await session.execute(
            sa.select(Ugc.public_id)
            .join(UgcRating, UgcRating.ugc_id == Ugc.id)
            .where(UgcRating.user_id == source.id)
        )
    ).scalars()
    forget_cached(uow, *moved_items, *rated)
    duplicates = (
        await session.execute(
            sa.select(theirs.ugc_id, theirs.value)
            .join(mine, sa.and_(mine.ugc_id == theirs.ugc_id, mine.user_id == target.id))
            .where(theirs.user_id == source.id)
        )
    ).all()
    for ugc_id, value in duplicates:
        await _drop_rating(uow, ugc_id, source.id, value)
    await session.flush()
    ratings = await session.execute(
        sa.update(UgcRating).where(UgcRating.user_id == source.id).values(user_id=target.id)
    )
    # Creators cannot rate their own items: a rating that now would be one (the target's of
    # an item that moved to it, the source's of an item the target made) is dropped.
    own = (
        await session.execute(
            sa.select(UgcRating.ugc_id, UgcRating.value)
            .join(Ugc, Ugc.id == UgcRating.ugc_id)
            .where(UgcRating.user_id == target.id, Ugc.creator_id == target.id)
        )
    ).all()
    for ugc_id, value in own:
        await _drop_rating(uow, ugc_id, target.id, value)

    target_days = sa.select(UgcDownload.ugc_id, UgcDownload.day).where(
        UgcDownload.user_id == target.id
    )
    await session.execute(
        sa.delete(UgcDownload).where(
            UgcDownload.user_id == source.id,
            sa.tuple_(UgcDownload.ugc_id, UgcDownload.day).in_(target_days),
        )
    )
    await session.execute(
        sa.update(UgcDownload).where(UgcDownload.user_id == source.id).values(user_id=target.id)
    )

    target_open = sa.select(UgcReport.ugc_id).where(
        UgcReport.reporter_id == target.id, UgcReport.status == "open"
    )
    await session.execute(
        sa.update(UgcReport)
        .where(
            UgcReport.reporter_id == source.id,
            UgcReport.status == "open",
            UgcReport.ugc_id.in_(target_open),
        )
        .values(status="dismissed", notes="duplicate after an account merge", decided_at=utcnow())
    )
    reports = await session.execute(
        sa.update(UgcReport).where(UgcReport.reporter_id == source.id).values(reporter_id=target.id)
    )
    # Nor can creators report their own items: such open reports are closed.
    target_items = sa.select(Ugc.id).where(Ugc.creator_id == target.id)
    await session.execute(
        sa.update(UgcReport)
        .where(
            UgcReport.reporter_id == target.id,
            UgcReport.status == "open",
            UgcReport.ugc_id.in_(target_items),
        )
        .values(status="dismissed", notes="own item after an account merge", decided_at=utcnow())
    )
    appeals = await session.execute(
        sa.update(Appeal).where(Appeal.appellant_id == source.id).values(appellant_id=target.id)
    )
    return {
        "ugc_moved": moved_items,
        "ratings_moved": int(getattr(ratings, "rowcount", 0) or 0),
        "ratings_dropped": len(duplicates) + len(own),
        "reports_moved": int(getattr(reports, "rowcount", 0) or 0),
        "appeals_moved": int(getattr(appeals, "rowcount", 0) or 0),
    }


async def _drop_rating(uow: UnitOfWork, ugc_id: Any, user_id: Any, value: int) -> None:
    """Delete one rating and take it out of its item's sum, count and average."""
    session = uow.session
    item = await session.get(Ugc, ugc_id, populate_existing=True)
    assert item is not None
    item.rating_sum -= value
    item.rating_count -= 1
    item.rating_average = item.rating_sum / item.rating_count if item.rating_count else 0.0
    await session.execute(
        sa.delete(UgcRating).where(UgcRating.ugc_id == ugc_id, UgcRating.user_id == user_id)
    )
