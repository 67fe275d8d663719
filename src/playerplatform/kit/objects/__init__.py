"""Object storage port: UGC files, receipts and scan reports. Two adapters held to one
contract test suite: a local folder whose URLs the app signs and serves (`file://`), and any
S3-compatible store with presigned URLs (`s3://bucket`: AWS S3, MinIO, R2).

Keys are relative paths of safe segments (see `keys.validate_key`); both adapters refuse
anything else, so a key can never escape its folder or bucket prefix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from playerplatform.kit.errors import NotFound
from playerplatform.kit.settings import Settings

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class ObjectNotFound(NotFound):
    code, title = "not_found", "Object not found"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    sha256: str | None = None  # hex, when the store knows it


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a client needs to upload or download directly: send `method` to `url` with
    exactly `headers`, before `expires_at`."""

    url: str
    method: str
    expires_at: dt.datetime
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "expires_at": self.expires_at,
        }


Body = bytes | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class NewObject:
    """An object to store with `put_many`: its key, bytes and content type."""

    key: str
    data: bytes
    content_type: str = DEFAULT_CONTENT_TYPE


@runtime_checkable
class ObjectStore(Protocol):
    async def put(
        self, key: str, data: Body, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store `data` (bytes or an async stream of chunks) under `key`, replacing it."""
        ...

    async def put_many(self, objects: Sequence[NewObject]) -> list[ObjectInfo]:
        """Store several small objects held in memory, each under a key of its own, as `put`
        stores each: for callers that write many at once (webhook intake), so the store can
        write them in one go. Returns once every one is stored; raises when any failed (the
        others may be stored)."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; `ObjectNotFound` when missing."""
        ...

    def stream(self, key: str, *, chunk_size: int = 65_536) -> AsyncIterator[bytes]:
        """The object in chunks (for large files: scans, downloads)."""
        ...

    async def head(self, key: str) -> ObjectInfo:
        """Size, content type and sha256 when known; `ObjectNotFound` when missing."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def signed_put_url(
        self, key: str, *, content_type: str, content_length: int, expires_in: int
    ) -> SignedRequest:
        """A URL a client uploads to directly, bound to this type and exact size."""
        ...

    async def signed_get_url(
        self,
        key: str,
        *,
        expires_in: int,
        filename: str | None = None,
        cache_control: str | None = None,
    ) -> SignedRequest:
        """A URL a client downloads from directly; `filename` asks for an attachment;
        `cache_control` is the Cache-Control the object is served with (for a CDN in front;
        default: not cacheable)."""
        ...

    async def ping(self) -> None:
        """Raise when the store does not answer (readiness)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def create_object_store(settings: Settings) -> ObjectStore:
    """The adapter `PP_STORAGE_URL` names."""
    url = settings.storage_url
    if url.startswith("s3://"):
        from playerplatform.kit.objects.s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    if url.startswith("file://"):
        from playerplatform.kit.objects.local import LocalObjectStore

        return LocalObjectStore.from_settings(settings)
    raise ValueError("PP_STORAGE_URL must start with file:// or s3://")
