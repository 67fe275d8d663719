"""What a moderator sees of an item under review: an image or a video by a short-lived link,
a text or JSON file's beginning, an archive's (map, mod, bundle) file list and sizes. Only
files the scanner did not find infected, unsafe or changed are ever previewed."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import TYPE_CHECKING, Any

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import NotFound
from playerplatform.ugc import repository
from playerplatform.ugc.archives import looks_like_zip

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

TEXT_PREVIEW_BYTES = 64 * 1024
ARCHIVE_PREVIEW_MAX_BYTES = 64 * 1024 * 1024  # larger archives show their size only
ARCHIVE_PREVIEW_FILES = 500
PREVIEW_URL_TTL = 300
NOT_SHOWN = frozenset({"infected", "unsafe", "changed", "pending"})


def _file_list(data: bytes) -> list[dict[str, Any]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            {"name": info.filename, "size": info.file_size}
            for info in archive.infolist()[:ARCHIVE_PREVIEW_FILES]
            if not info.is_dir()
        ]


async def preview(runtime: Runtime, uow: UnitOfWork, ugc_id: str) -> dict[str, Any]:
    """The preview of one item for moderators: `{"kind": "image"|"video", "url"}`,
    `{"kind": "text", "text", "truncated"}`, `{"kind": "files", "files", "size"}`, or
    `{"kind": "none", "reason"}`."""
    item = await repository.get_item(uow, ugc_id)
    if item is None:
        raise NotFound("No such item.")
    if item.object_key is None or item.scan_state in NOT_SHOWN:
        return {"kind": "none", "reason": f"the file is {item.scan_state}"}
    kind = item.content_type.split("/", 1)[0]
    if kind in ("image", "video"):
        signed = await runtime.objects.signed_get_url(item.object_key, expires_in=PREVIEW_URL_TTL)
        return {"kind": kind, "url": signed.url, "content_type": item.content_type}
    if item.type in ("map", "mod", "bundle") or item.content_type == "application/zip":
        if item.size > ARCHIVE_PREVIEW_MAX_BYTES:
            return {"kind": "files", "files": None, "size": item.size}
        data = await runtime.objects.get(item.object_key)
        if not looks_like_zip(data[:16]):
            return {"kind": "none", "reason": "not an archive", "size": item.size}
        files = await asyncio.to_thread(_file_list, data)
        return {"kind": "files", "files": files, "size": item.size}
    head = b""
    async for chunk in runtime.objects.stream(item.object_key):
        head += chunk
        if len(head) >= TEXT_PREVIEW_BYTES:
            break
    text = head[:TEXT_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return {"kind": "text", "text": text, "truncated": item.size > TEXT_PREVIEW_BYTES}
