"""Rules of the ugc domain for items: reading one (through the cache), drafts and their
uploads (a fresh upload URL for a draft, the purge of abandoned drafts), completion, edits and
deletion by the creator. Who sees what lives in `access.py`; discovery, engagement, moderation
and scanning have modules of their own."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import (
    AppError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
)
from playerplatform.kit.objects import ObjectNotFound
from playerplatform.kit.objects.keys import safe_filename
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.textfilter import TextFilter, ensure_acceptable
from playerplatform.ugc import repository
from playerplatform.ugc.access import (
    DELETED,
    NOT_CLEARED,
    InvalidTransition,
    can_see,
    forget_cached,
    is_moderator,
    item_owner,
    items_out,
    new_public_id,
    one_out,
    own_item,
)
from playerplatform.ugc.keys import ugc_file_key
from playerplatform.ugc.models import Ugc
from playerplatform.ugc.policy import CONTENT_TYPES, HEAD_BYTES, content_problem, max_bytes
from playerplatform.ugc.schemas import (
    DraftOut,
    TimeCursor,
    UgcCreate,
    UgcOut,
    UgcPatch,
    UploadOut,
)

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.ugc")

SCAN_QUEUE = "scan_content"
PURGE_BATCH = 500  # drafts deleted per purge run: one short transaction, a backlog drains
PURGE_DELETE_CONCURRENCY = 8  # object deletions in flight after a purge commits


class ChecksumMismatch(ValidationFailed):
    code, title = "checksum_mismatch", "Checksum mismatch"


class WrongContent(ValidationFailed):
    """The bytes are not what the item's type or declared content type must be (422, with
    code `archive_required` or `content_type_mismatch`)."""

    title = "The file is not of its declared kind"


class UploadMissing(AppError):
    status, code, title = 409, "upload_missing", "Nothing was uploaded"


class UploadQuotaExceeded(RateLimited):
    code, title = "upload_quota_exceeded", "Upload quota exceeded"


class NotDraft(AppError):
    status, code, title = 409, "ugc_not_draft", "The item is no longer a draft"


ITEM_VIEW = "item-bodies"  # the name of an item's cached view (`kit.views`)


async def get_item(
    uow: UnitOfWork, runtime: Runtime, public_id: str, viewer: Principal | None
) -> bytes:
    """One item as `UgcOut` JSON, by the visibility rules; served from the cache when it
    holds it. The cached view keeps the facts the rules need and the item encoded twice (as
    its creator and moderators see it, and without the moderation fields as everyone else
    does), one per line, so a read decodes only the facts."""

    async def load() -> bytes:
        item = await repository.get_item(uow, public_id)
        if item is None:
            raise NotFound("No such item.")  # nothing stored: a 404 is not cached
        facts = {
            "creator_id": str(item.creator_id),
            "status": item.status,
            "visibility": item.visibility,
            "reason": item.status_reason,
        }
        full = await one_out(uow, item)
        public = full.model_copy(update=_STAFF_ONLY)
        return b"\n".join(
            (
                orjson.dumps(facts),
                public.model_dump_json().encode(),
                full.model_dump_json().encode(),
            )
        )

    owner = item_owner(public_id)
    ttl = runtime.settings.ugc_cache_ttl
    facts_line, public, full = (
        await runtime.views.read(owner, "item-bodies", load, ttl=ttl)
    ).split(b"\n", 2)
    facts: dict[str, Any] = orjson.loads(facts_line)
    creator_id = uuid.UUID(facts["creator_id"])
    if not can_see(
        viewer,
        creator_id=creator_id,
        status=facts["status"],
        visibility=facts["visibility"],
        reason=facts["reason"],
    ):
        raise NotFound("No such item.")
    if is_moderator(viewer) or (viewer is not None and viewer.user_id == creator_id):
        return full
    return public


# What only the creator and moderators see of an item.
_STAFF_ONLY: dict[str, Any] = {"status_reason": None, "status_note": None, "scan": None}


# Drafts and uploads.


async def create_draft(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, body: UgcCreate, checker: TextFilter
) -> DraftOut:
    """A draft item and the signed URL its file goes to (`ugc/{type}/{ugc_id}/{filename}`),
    bound to the declared size and content type. Type rules, the daily quota and the text
    filter are checked before anything is written."""
    settings = runtime.settings
    assert principal.user_id is not None
    file = body.file
    if file.content_type not in CONTENT_TYPES[body.type]:
        allowed = ", ".join(sorted(CONTENT_TYPES[body.type]))
        raise ValidationFailed(
            f"A {body.type} must be one of: {allowed}.", field="file.content_type"
        )
    limit = max_bytes(settings, body.type)
    if file.size > limit:
        raise PayloadTooLarge(
            f"A {body.type} is limited to {limit} bytes.",
            extra={"errors": [{"field": "file.size", "message": f"at most {limit} bytes"}]},
        )
    await ensure_acceptable(checker, body.name, field="name")
    if body.description:
        await ensure_acceptable(checker, body.description, field="description")
    if body.tags:
        await ensure_acceptable(checker, " ".join(body.tags), field="tags")
    now = utcnow()
    made = await repository.count_created_since(uow, principal.user_id, now - dt.timedelta(days=1))
    if made >= settings.ugc_uploads_per_day:
        raise UploadQuotaExceeded(
            f"At most {settings.ugc_uploads_per_day} uploads a day.",
            headers={"Retry-After": "3600"},
        )
    public_id = new_public_id("u")
    item = Ugc(
        id=new_uuid(),
        public_id=public_id,
        creator_id=principal.user_id,
        type=body.type,
        name=body.name,
        description=body.description,
        tags=body.tags,
        item_metadata=body.metadata,
        status="draft",
        visibility=body.visibility,
        filename=safe_filename(file.filename),
        upload_key=ugc_file_key(body.type, public_id, file.filename),
        object_key=None,
        content_type=file.content_type,
        size=file.size,
        checksum=file.sha256,
        scan_state="pending",
        scan_round=0,
        downloads_count=0,
        rating_sum=0,
        rating_count=0,
        rating_average=0.0,
        created_at=now,
        updated_at=now,
    )
    await repository.insert_item(uow, item)
    return DraftOut(ugc=await one_out(uow, item), upload=await _upload_url(runtime, item))


async def _upload_url(runtime: Runtime, item: Ugc) -> UploadOut:
    """A signed PUT URL for the draft's key, bound to its declared size and content type."""
    upload = await runtime.objects.signed_put_url(
        item.upload_key,
        content_type=item.content_type,
        content_length=item.size,
        expires_in=runtime.settings.ugc_upload_url_ttl,
    )
    return UploadOut(
        url=upload.url, method=upload.method, headers=upload.headers, expires_at=upload.expires_at
    )


async def renew_upload_url(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, public_id: str
) -> UploadOut:
    """A fresh signed URL for the caller's own draft (the first expired before the upload
    finished): the same key, size and content type, valid `PP_UGC_UPLOAD_URL_TTL` seconds
    from now. Nothing is written. Past its draft the stored file has been checked, so 409
    `ugc_not_draft`: bytes PUT then would only ever be refused as `upload_changed`."""
    item = await own_item(uow, public_id, principal)
    if item.status != "draft":
        raise NotDraft(f"The item is {item.status}; only a draft takes an upload.")
    return await _upload_url(runtime, item)


async def purge_abandoned_drafts(
    uow: UnitOfWork, runtime: Runtime, *, limit: int = PURGE_BATCH
) -> int:
    """Delete drafts created more than `PP_UGC_DRAFT_TTL_HOURS` ago together with anything
    uploaded under their key, at most `limit` per call, oldest first; returns how many.

    The rows go in this transaction and the objects only after it commits. The other order
    could delete the upload of a row that stays: a rollback after the deletions, or a draft
    completed in between (its scan would find nothing). Here the DELETE itself re-checks the
    status, only the keys of rows it really deleted are touched, and the worst case is the
    harmless opposite: a store failure after the commit leaves an object no row names, which
    nothing serves or signs again (logged with its key). A key nothing was uploaded to is no
    error: the store's delete ignores missing objects."""
    cutoff = utcnow() - dt.timedelta(hours=runtime.settings.ugc_draft_ttl_hours)
    deleted = await repository.delete_drafts_created_before(uow, cutoff, limit=limit)
    if not deleted:
        return 0
    forget_cached(uow, *(public_id for public_id, _key in deleted))
    keys = [key for _public_id, key in deleted]
    slots = asyncio.Semaphore(PURGE_DELETE_CONCURRENCY)

    async def delete_one(key: str) -> None:
        async with slots:
            try:
                await runtime.objects.delete(key)
            except Exception:
                log.exception("ugc_draft_upload_not_deleted", key=key)

    async def delete_uploads() -> None:
        log.info("ugc_drafts_purged", deleted=len(keys), cutoff=cutoff.isoformat())
        await asyncio.gather(*(delete_one(key) for key in keys))

    uow.after_commit(delete_uploads)
    return len(deleted)


async def _stored_sha256(runtime: Runtime, key: str, known: str | None) -> str:
    if known:
        return known
    digest = hashlib.sha256()
    async for chunk in runtime.objects.stream(key):
        digest.update(chunk)
    return digest.hexdigest()


async def _stored_head(runtime: Runtime, item: Ugc) -> bytes:
    """The first bytes of the stored upload (what its format is decided by)."""
    head = b""
    chunks = runtime.objects.stream(item.upload_key, chunk_size=HEAD_BYTES)
    try:
        async for chunk in chunks:
            head += chunk
            if len(head) >= HEAD_BYTES:
                break
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return head[:HEAD_BYTES]


async def complete_upload(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, public_id: str
) -> UgcOut:
    """Check the stored object against the declared size and sha256, and its first bytes
    against its type (a mod or bundle must be a zip; a declared image or video type must be
    what the bytes are), then queue the scan. A mismatch deletes the stored object (the draft
    stays, so the client can upload again).
    Completing an item that is past its draft returns it as it is."""
    # The object store is read before the first write: on SQLite that takes the writer lock.
    async with runtime.db.unit_of_work(write=False) as read:
        item = await own_item(read, public_id, principal)
    if item.status == "draft":
        try:
            info = await runtime.objects.head(item.upload_key)
        except ObjectNotFound:
            raise UploadMissing("Upload the file to the signed URL first.")
        problem = None
        if info.size != item.size:
            problem = f"The stored file has {info.size} bytes, not {item.size}."
        elif await _stored_sha256(runtime, item.upload_key, info.sha256) != item.checksum:
            problem = "The stored file's sha256 is not the one declared."
        if problem:
            await runtime.objects.delete(item.upload_key)
            raise ChecksumMismatch(problem, field="file")
        wrong = content_problem(item.type, item.content_type, await _stored_head(runtime, item))
        if wrong:
            await runtime.objects.delete(item.upload_key)
            raise WrongContent(wrong[1], code=wrong[0], field="file")
    item = await own_item(uow, public_id, principal, for_update=True)
    if item.status == "draft":
        now = utcnow()
        item.status, item.uploaded_at, item.updated_at = "scanning", now, now
        item.scan_round += 1
        await uow.session.flush()
        await enqueue(
            uow,
            SCAN_QUEUE,
            {"ugc_id": item.public_id, "round": item.scan_round},
            key=f"scan:{item.public_id}:{item.scan_round}",
        )
        forget_cached(uow, item.public_id)
    return await one_out(uow, item)


async def update_item(
    uow: UnitOfWork,
    runtime: Runtime,
    principal: Principal,
    public_id: str,
    patch: UgcPatch,
    checker: TextFilter,
) -> UgcOut:
    """The creator's edit of name, description, tags, metadata or visibility; new text passes
    the text filter first. Removed items cannot be edited."""
    changes = patch.changes()
    for field in ("name", "description"):
        if changes.get(field):
            await ensure_acceptable(checker, changes[field], field=field)
    if changes.get("tags"):
        await ensure_acceptable(checker, " ".join(changes["tags"]), field="tags")
    item = await own_item(uow, public_id, principal, for_update=True)
    if item.status == "removed":
        raise InvalidTransition("A removed item cannot be edited; appeal instead.")
    if "name" in changes:
        item.name = changes["name"].strip()
    if "description" in changes:
        item.description = changes["description"]
    if "metadata" in changes:
        item.item_metadata = changes["metadata"]
    if "visibility" in changes:
        item.visibility = changes["visibility"]
    if "tags" in changes:
        item.tags = changes["tags"]
        await repository.replace_tags(uow, item.id, item.tags)
    item.updated_at = utcnow()
    await uow.session.flush()
    forget_cached(uow, item.public_id)
    return await one_out(uow, item)


async def delete_item(
    uow: UnitOfWork, runtime: Runtime, principal: Principal, public_id: str
) -> None:
    """The creator withdraws the item: it is removed (reason `deleted`), invisible to players
    from now on, and its files are deleted once that is committed. Reports and the audit
    trail about it are kept for moderators."""
    item = await own_item(uow, public_id, principal, for_update=True)
    keys = [k for k in (item.upload_key, item.object_key) if k and not k.startswith("quarantine/")]
    item.status, item.status_reason, item.status_note = "removed", DELETED, None
    item.object_key = None if item.scan_state not in NOT_CLEARED else item.object_key
    item.updated_at = utcnow()
    await uow.session.flush()
    forget_cached(uow, item.public_id)

    async def delete_files() -> None:
        for key in keys:
            await runtime.objects.delete(key)

    uow.after_commit(delete_files)


async def my_items(uow: UnitOfWork, principal: Principal, page: PageParams) -> Page[UgcOut]:
    """The caller's own items in every status, newest first."""
    assert principal.user_id is not None
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_by_creator(
        uow, principal.user_id, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    shown = await items_out(uow, rows[: page.limit], privileged=True)
    by_id = {o.ugc_id: o for o in shown}
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r.created_at, i=r.public_id),
        lambda r: by_id[r.public_id],
    )
