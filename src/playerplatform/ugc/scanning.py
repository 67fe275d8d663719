"""The `scan_content` job: take the uploaded bytes once, check them (sha256 again, archive
safety, the virus scanner), store the scan report at `scans/{ugc_id}/{scanner}/report.json`,
and move the bytes where the verdict says: the released copy that downloads are served from,
or quarantine. Only the released copy is ever served, so a client that PUTs again to its
still-valid upload URL after the scan changes nothing that players can download.

A scanner that does not answer raises: the job is retried with backoff and the item stays
`scanning`; nothing is published unscanned because of an outage.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from playerplatform.audit import service as audit
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.objects.keys import validate_key
from playerplatform.kit.scanner import DenyList, DenyMatcher, ScanResult
from playerplatform.ugc import notify, repository
from playerplatform.ugc.access import creator_canonical_id, forget_cached
from playerplatform.ugc.archives import inspect_archive, is_zip
from playerplatform.ugc.keys import scan_report_key
from playerplatform.ugc.models import Ugc, UgcScan

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

REVIEW_QUEUE = "moderation_review"
REVIEW_KIND = "ugc_review"
CHUNK = 256 * 1024
LOCAL_SCANNER = "local"  # the deny list's name in scan reports
NO_SCANNER_NOTE = "Not scanned for malware: no virus scanner is configured (PP_CLAMD_ADDRESS)."


def released_key(item: Ugc) -> str:
    return validate_key(f"ugc/{item.type}/{item.public_id}/released/{item.filename}")


def quarantine_key(item: Ugc) -> str:
    return validate_key(f"quarantine/{item.public_id}/{item.filename}")


async def _save(runtime: Runtime, key: str, path: Path, matcher: DenyMatcher) -> tuple[str, int]:
    size = 0
    with await asyncio.to_thread(path.open, "wb") as handle:
        async for chunk in runtime.objects.stream(key, chunk_size=CHUNK):
            matcher.feed(chunk)
            size += len(chunk)
            await asyncio.to_thread(handle.write, chunk)
    return matcher.digest.hexdigest(), size


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with await asyncio.to_thread(path.open, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


async def scan_upload(uow: UnitOfWork, runtime: Runtime, public_id: str, scan_round: int) -> None:
    """Scan round `scan_round` of an item (idempotent: an item no longer `scanning` in that
    round is left alone)."""
    # Slow I/O first, outside the job's unit of work (on SQLite its first write would hold
    # the database's writer lock for the whole scan).
    async with runtime.db.unit_of_work(write=False) as read:
        item = await repository.get_item(read, public_id)
    if item is None or item.status != "scanning" or item.scan_round != scan_round:
        return
    report: dict[str, Any] = {
        "ugc_id": item.public_id,
        "round": scan_round,
        "declared": {"size": item.size, "sha256": item.checksum, "type": item.content_type},
        "started_at": utcnow().isoformat(),
    }
    deny = DenyList.from_settings(runtime.settings)
    with tempfile.TemporaryDirectory(prefix="pp-scan-") as folder:
        path = Path(folder) / "upload"
        matcher = deny.matcher()
        sha256, size = await _save(runtime, item.upload_key, path, matcher)
        report["stored"] = {"size": size, "sha256": sha256}
        state: str
        reason: str | None
        note: str | None
        if sha256 != item.checksum or size != item.size:
            result = ScanResult("unscanned", runtime.scanner.name)
            state, reason, note = "changed", "upload_changed", "the file changed after completion"
        else:
            state, reason, note, result = await _verdict(runtime, path, deny, matcher, report)
        report["verdict"] = state
        report["finished_at"] = utcnow().isoformat()
        target = quarantine_key(item) if reason else released_key(item)
        await runtime.objects.put(target, file_chunks(path), content_type=item.content_type)
    report_key = scan_report_key(item.public_id, result.scanner, "report.json")
    await runtime.objects.put(report_key, orjson.dumps(report), content_type="application/json")

    item = await repository.get_item(uow, public_id, for_update=True)
    if item is None or item.status != "scanning" or item.scan_round != scan_round:
        return
    now = utcnow()
    item.scan_state, item.object_key, item.updated_at = state, target, now
    if reason:
        item.status, item.status_reason, item.status_note = "removed", reason, note
    else:
        item.status, item.status_reason, item.status_note = "pending_review", None, note
    await repository.add_scan(
        uow,
        UgcScan(
            ugc_id=item.id,
            round=scan_round,
            scanner=result.scanner,
            verdict=state,
            signature=result.signature,
            report_key=report_key,
            details={"archive": report.get("archive"), "stored": report["stored"]},
            created_at=now,
        ),
    )
    await audit.record(
        uow,
        action="ugc.scanned",
        resource_type="ugc",
        resource_id=item.public_id,
        subjects=[await creator_canonical_id(uow, item)],
        new={"verdict": state, "status": item.status, "signature": result.signature},
    )
    if reason:
        await notify.tell_creator(uow, runtime, item, "removed")
    else:
        await enqueue(
            uow,
            REVIEW_QUEUE,
            {"kind": REVIEW_KIND, "ugc_id": item.public_id, "round": scan_round},
            key=f"review:{item.public_id}:{scan_round}",
        )
    forget_cached(uow, item.public_id)
    upload_key = item.upload_key

    async def drop_upload() -> None:
        await runtime.objects.delete(upload_key)

    uow.after_commit(drop_upload)


async def _verdict(
    runtime: Runtime, path: Path, deny: DenyList, matcher: DenyMatcher, report: dict[str, Any]
) -> tuple[str, str | None, str | None, ScanResult]:
    """(scan state, removal reason, note, scanner result) of a file whose bytes are the ones
    declared. The local deny list decides first, with or without a scanner; a zip (by its
    bytes, whatever its name or type) is checked as an archive; then the scanner."""
    denied = matcher.result()
    if denied:
        report["deny_list"] = denied
        return "infected", "malware", denied, ScanResult("infected", LOCAL_SCANNER, denied)
    state, reason, note = "clean", None, None
    if await asyncio.to_thread(is_zip, path):
        verdict = await asyncio.to_thread(inspect_archive, path, runtime.settings, deny)
        report["archive"] = verdict.as_dict()
        if verdict.denied:
            return (
                "infected",
                "malware",
                verdict.reason,
                ScanResult("infected", LOCAL_SCANNER, verdict.denied),
            )
        if not verdict.safe:
            state, reason, note = "unsafe", "unsafe_archive", verdict.reason
    result = await runtime.scanner.scan(file_chunks(path))  # raises when unavailable
    report["scanner"] = result.as_dict()
    if result.verdict == "infected":
        return "infected", "malware", result.signature, result
    if result.verdict == "unscanned" and state == "clean":
        return "unscanned", None, NO_SCANNER_NOTE, result
    return state, reason, note, result


async def review_submission(uow: UnitOfWork, runtime: Runtime, public_id: str) -> None:
    """The `moderation_review` job after a scan: publish at once when the policy trusts the
    creator (`PP_UGC_TRUSTED_AFTER_APPROVALS` approved items and none removed for cause) and
    the scanner cleared the file; otherwise the item waits in the moderators' queue."""
    threshold = runtime.settings.ugc_trusted_after_approvals
    if threshold <= 0:
        return
    item = await repository.get_item(uow, public_id, for_update=True)
    if item is None or item.status != "pending_review" or item.scan_state != "clean":
        return
    published, removed = await repository.approved_count(uow, item.creator_id)
    if published < threshold or removed:
        return
    now = utcnow()
    item.status, item.published_at, item.updated_at = "published", now, now
    await uow.session.flush()
    await audit.record(
        uow,
        action="ugc.auto_published",
        resource_type="ugc",
        resource_id=item.public_id,
        subjects=[await creator_canonical_id(uow, item)],
        new={"status": "published", "policy": f"trusted after {threshold} approvals"},
    )
    forget_cached(uow, item.public_id)


async def rescan(uow: UnitOfWork, runtime: Runtime, item: Ugc) -> None:
    """Put a quarantined file back where uploads go and scan it again (a granted appeal
    against a malware or unsafe-archive verdict). Written before the item changes, so a
    failure leaves the item as it was."""
    if item.object_key is None:
        return
    await runtime.objects.put(
        item.upload_key, runtime.objects.stream(item.object_key), content_type=item.content_type
    )
    item.status, item.scan_state = "scanning", "pending"
    item.status_reason = item.status_note = None
    item.scan_round += 1
    item.updated_at = utcnow()
    await uow.session.flush()
    await enqueue(
        uow,
        "scan_content",
        {"ugc_id": item.public_id, "round": item.scan_round},
        key=f"scan:{item.public_id}:{item.scan_round}",
    )
