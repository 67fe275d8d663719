"""Feedback attachments: declared with the feedback, uploaded to signed URLs under
`feedback/{feedback_id}/{filename}`, scanned (job `feedback_scan` on `moderation_review`)
once the player says the uploads are done, and served to staff only when clean.

A file whose bytes match its declaration (size and sha256) and that the scanner finds clean
is copied to its released key, the only copy ever served; an infected or changed one is
moved to quarantine and never served. Either way the upload key is emptied, so bytes PUT
again later are never what staff fetch. Without a scanner attachments stay `unscanned` and
are not served.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from playerplatform.audit import service as audit
from playerplatform.jobs.service import enqueue as enqueue_job
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import AppError, NotFound
from playerplatform.kit.objects.keys import key_segment, validate_key
from playerplatform.safety import repository
from playerplatform.safety.models import Feedback, FeedbackAttachment
from playerplatform.safety.schemas import AttachmentLink, UploadOut

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

SCAN_QUEUE = "moderation_review"
SCAN_KIND = "feedback_scan"


class AttachmentNotServed(AppError):
    status, code, title = 409, "attachment_not_served", "This attachment is not served"


def upload_key(feedback_id: str, filename: str) -> str:
    return validate_key(f"feedback/{key_segment(feedback_id, 'feedback id')}/{filename}")


def released_key(feedback_id: str, filename: str) -> str:
    return validate_key(f"feedback/{key_segment(feedback_id, 'feedback id')}/released/{filename}")


def quarantine_key(feedback_id: str, filename: str) -> str:
    return validate_key(f"quarantine/feedback/{key_segment(feedback_id, 'feedback id')}/{filename}")


async def upload_urls(runtime: Runtime, files: list[FeedbackAttachment]) -> list[UploadOut]:
    out = []
    for f in files:
        if f.scan_state != "awaiting_upload":
            continue
        signed = await runtime.objects.signed_put_url(
            f.object_key,
            content_type=f.content_type,
            content_length=f.size,
            expires_in=runtime.settings.feedback_upload_url_ttl,
        )
        out.append(
            UploadOut(
                filename=f.filename,
                method=signed.method,
                url=signed.url,
                headers=signed.headers,
                expires_at=signed.expires_at,
            )
        )
    return out


async def start_scans(
    uow: UnitOfWork, runtime: Runtime, row: Feedback, files: list[FeedbackAttachment]
) -> None:
    """Every attachment now in the store goes to the scanner; one never uploaded stays
    `awaiting_upload`."""
    for f in files:
        if f.scan_state == "awaiting_upload" and await runtime.objects.exists(f.object_key):
            f.scan_state = "scanning"
            await enqueue_job(
                uow,
                SCAN_QUEUE,
                {"kind": SCAN_KIND, "feedback_id": row.public_id, "filename": f.filename},
                key=f"feedback_scan:{row.public_id}:{f.filename}",
            )
    await uow.session.flush()


async def _stored(runtime: Runtime, key: str) -> tuple[bytes, str]:
    data = await runtime.objects.get(key)
    return data, hashlib.sha256(data).hexdigest()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def scan_attachment(
    uow: UnitOfWork, runtime: Runtime, feedback_id: str, filename: str
) -> None:
    """Scan one uploaded attachment (idempotent: one no longer `scanning` is left alone);
    raises while the scanner does not answer, so the job retries."""
    row = await repository.get_feedback(uow, feedback_id)
    if row is None:
        return
    f = await repository.get_attachment(uow, row.id, filename)
    if f is None or f.scan_state != "scanning":
        return
    data, sha256 = await _stored(runtime, f.object_key)  # bounded by the signed size
    note: str | None = None
    if sha256 != f.sha256 or len(data) != f.size:
        state, note = "changed", "the file does not match its declaration"
    else:
        result = await runtime.scanner.scan(_chunks(data))
        state, note = result.verdict, result.signature
    target = (
        released_key(feedback_id, filename)
        if state in ("clean", "unscanned")
        else quarantine_key(feedback_id, filename)
    )
    await runtime.objects.put(target, data, content_type=f.content_type)
    await runtime.objects.delete(f.object_key)
    f.scan_state, f.scan_note, f.object_key = state, note, target
    await uow.session.flush()
    await audit.record(
        uow,
        action="feedback.attachment_scanned",
        resource_type="feedback",
        resource_id=feedback_id,
        new={"filename": filename, "verdict": state, "signature": note},
    )


async def attachment_link(
    uow: UnitOfWork, runtime: Runtime, feedback_id: str, filename: str
) -> AttachmentLink:
    """A short-lived link to a clean attachment; anything else is never served (409)."""
    row = await repository.get_feedback(uow, feedback_id)
    f = await repository.get_attachment(uow, row.id, filename) if row is not None else None
    if f is None:
        raise NotFound("No such attachment.")
    if f.scan_state != "clean":
        raise AttachmentNotServed(f"The attachment is {f.scan_state}; it is not served.")
    signed = await runtime.objects.signed_get_url(
        f.object_key, expires_in=runtime.settings.feedback_download_url_ttl, filename=f.filename
    )
    return AttachmentLink(filename=f.filename, url=signed.url)
