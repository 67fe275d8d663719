"""The ugc domain's part of a player's data export and erasure: the player's items (their
metadata, and their files copied into the export), ratings, downloads, the reports they filed
and their appeals.

Erasure follows `PP_ERASURE_UGC`: `remove` deletes every item of the player with its files;
`keep_anonymous` keeps the published ones under the pseudonymous account (no name is shown)
and deletes the rest. Ratings and downloads go (the items' totals keep counting them); the
text of the player's reports and appeals is erased, the records stay for moderators."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, column_values
from playerplatform.ugc.access import forget_cached
from playerplatform.ugc.models import Appeal, Ugc, UgcDownload, UgcRating, UgcReport

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("ugc", "ugc_ratings", "ugc_downloads", "ugc_reports", "appeals")
ERASED_TEXT = "[erased]"
QUARANTINE = "quarantine/"


async def export_ugc(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    items = (
        await uow.session.execute(
            sa.select(Ugc).where(Ugc.creator_id == user_id).order_by(Ugc.created_at)
        )
    ).scalars()
    ratings = await uow.session.execute(
        sa.select(Ugc.public_id, UgcRating.value, UgcRating.updated_at)
        .join(Ugc, Ugc.id == UgcRating.ugc_id)
        .where(UgcRating.user_id == user_id)
    )
    reports = await uow.session.execute(
        sa.select(Ugc.public_id, UgcReport)
        .join(Ugc, Ugc.id == UgcReport.ugc_id)
        .where(UgcReport.reporter_id == user_id)
    )
    appeals = await uow.session.execute(
        sa.select(Ugc.public_id, Appeal)
        .join(Ugc, Ugc.id == Appeal.ugc_id)
        .where(Appeal.appellant_id == user_id)
    )
    hidden = ("upload_key", "object_key", "weight", "notes", "decided_by")
    return {
        "items": [column_values(i, exclude=hidden) for i in items],
        "ratings": [{"ugc_id": r[0], "value": r[1], "at": r[2]} for r in ratings],
        "reports": [{"ugc_id": r[0], **column_values(r[1], exclude=hidden)} for r in reports],
        "appeals": [{"ugc_id": r[0], **column_values(r[1], exclude=hidden)} for r in appeals],
    }


async def export_ugc_files(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The stored files of the player's items that were cleared (never a quarantined one)."""
    found = await uow.session.execute(
        sa.select(Ugc.public_id, Ugc.filename, Ugc.object_key).where(
            Ugc.creator_id == user_id, Ugc.object_key.is_not(None)
        )
    )
    return [
        (f"ugc/{public_id}/{filename}", key)
        for public_id, filename, key in found
        if key and not key.startswith(QUARANTINE)
    ]


async def erase_ugc(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    user_id = subject.user_id
    doomed = sa.select(Ugc).where(Ugc.creator_id == user_id)
    if runtime.settings.erasure_ugc == "keep_anonymous":
        doomed = doomed.where(Ugc.status != "published")
    items = list((await uow.session.execute(doomed)).scalars())
    keys = [k for i in items for k in (i.upload_key, i.object_key) if k]
    if items:
        await uow.session.execute(sa.delete(Ugc).where(Ugc.id.in_([i.id for i in items])))
        forget_cached(uow, *(i.public_id for i in items))
    await uow.session.execute(sa.delete(UgcRating).where(UgcRating.user_id == user_id))
    await uow.session.execute(sa.delete(UgcDownload).where(UgcDownload.user_id == user_id))
    await uow.session.execute(
        sa.update(UgcReport).where(UgcReport.reporter_id == user_id).values(description=None)
    )
    await uow.session.execute(
        sa.update(Appeal).where(Appeal.appellant_id == user_id).values(message=ERASED_TEXT)
    )

    async def delete_files() -> None:
        for key in keys:
            await runtime.objects.delete(key)

    uow.after_commit(delete_files)
