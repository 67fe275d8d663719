"""Local-folder object store (the embedded shape). Objects live under `<root>/data/<key>`
with a JSON sidecar under `<root>/meta/`; writes go to `<root>/tmp` and are renamed into
place, so a reader never sees half a file. Signed URLs point at the app's `/objects/` routes
and carry an HMAC-SHA256 signature over the method, key, expiry and the upload's declared
type and size (or the download's file name).

Signing key: `PP_STORAGE_SIGNING_KEY`, else one generated on first use and kept in
`<root>/signing.key` (mode 0600). Every process that serves this store must share the
folder anyway, so they share the key with it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from playerplatform.kit.errors import BadRequest, Forbidden, PayloadTooLarge
from playerplatform.kit.objects import (
    DEFAULT_CONTENT_TYPE,
    Body,
    NewObject,
    ObjectInfo,
    ObjectNotFound,
    SignedRequest,
)
from playerplatform.kit.objects.keys import validate_key
from playerplatform.kit.settings import Settings

ROUTE_PREFIX = "/objects"
# Uploads are not JSON: the app exempts these paths from the JSON body limit.
BODY_LIMIT_EXEMPT = (f"{ROUTE_PREFIX}/",)
CHUNK = 65_536


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _load_or_create_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.b64decode(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return base64.b64decode(path.read_text().strip())


class LocalObjectStore:
    def __init__(self, root: Path, *, public_url: str, signing_key: bytes | None = None) -> None:
        self.root = root.expanduser().resolve()
        for sub in ("data", "meta", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.public_url = public_url.rstrip("/")
        self._key = signing_key or _load_or_create_key(self.root / "signing.key")

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalObjectStore:
        key = settings.storage_signing_key
        return cls(
            Path(settings.storage_url.removeprefix("file://")),
            public_url=settings.public_url,
            signing_key=key.get_secret_value().encode() if key else None,
        )

    # Paths.

    def _data(self, key: str) -> Path:
        return self.root / "data" / validate_key(key)

    def _meta(self, key: str) -> Path:
        return self.root / "meta" / f"{validate_key(key)}.json"

    # The port.

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        await asyncio.to_thread(os.stat, self.root / "data")

    async def put(
        self, key: str, data: Body, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        return await self.write(key, data, content_type=content_type)

    async def put_many(self, objects: Sequence[NewObject]) -> list[ObjectInfo]:
        # One trip to a thread for all of them: the trip cost more than the writes.
        staged = [
            (
                o.data,
                self._data(o.key),
                self._meta(o.key),
                ObjectInfo(o.key, len(o.data), o.content_type, hashlib.sha256(o.data).hexdigest()),
            )
            for o in objects
        ]
        await asyncio.to_thread(self._write_all, staged)
        return [info for *_, info in staged]

    def _write_all(self, staged: list[tuple[bytes, Path, Path, ObjectInfo]]) -> None:
        for data, path, meta, info in staged:
            _write_whole(self._tmp_path(), data, path, meta, info)

    def _tmp_path(self) -> Path:
        return self.root / "tmp" / secrets.token_hex(12)

    async def write(
        self,
        key: str,
        data: Body,
        *,
        content_type: str,
        exact_length: int | None = None,
    ) -> ObjectInfo:
        """Store `data`; with `exact_length`, refuse a body longer (413) or shorter (400)."""
        path, meta = self._data(key), self._meta(key)
        tmp = self._tmp_path()
        if isinstance(data, bytes | bytearray | memoryview):
            # A body already in memory: written in one trip to a thread, not one per step.
            whole = bytes(data)
            if exact_length is not None and len(whole) > exact_length:
                raise PayloadTooLarge("The upload is larger than the signed size.")
            if exact_length is not None and len(whole) != exact_length:
                raise BadRequest("The upload is shorter than the signed size.")
            info = ObjectInfo(key, len(whole), content_type, hashlib.sha256(whole).hexdigest())
            await asyncio.to_thread(_write_whole, tmp, whole, path, meta, info)
            return info
        digest = hashlib.sha256()
        size = 0
        handle: BinaryIO = await asyncio.to_thread(tmp.open, "wb")
        try:
            async for chunk in _chunks(data):
                size += len(chunk)
                if exact_length is not None and size > exact_length:
                    raise PayloadTooLarge("The upload is larger than the signed size.")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            if exact_length is not None and size != exact_length:
                raise BadRequest("The upload is shorter than the signed size.")
            info = ObjectInfo(key, size, content_type, digest.hexdigest())
            await asyncio.to_thread(_commit, tmp, path, meta, info)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
        return info

    async def get(self, key: str) -> bytes:
        path = self._data(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"No object {key}.")

    async def stream(self, key: str, *, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        path = self._data(key)
        try:
            handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"No object {key}.")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def head(self, key: str) -> ObjectInfo:
        path, meta = self._data(key), self._meta(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise ObjectNotFound(f"No object {key}.")
        try:
            recorded: dict[str, Any] = json.loads(await asyncio.to_thread(meta.read_text))
        except (FileNotFoundError, ValueError):
            recorded = {}
        return ObjectInfo(
            key,
            stat.st_size,
            str(recorded.get("content_type") or DEFAULT_CONTENT_TYPE),
            recorded.get("sha256") if recorded.get("size") == stat.st_size else None,
        )

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._data(key).is_file)

    async def delete(self, key: str) -> None:
        path, meta = self._data(key), self._meta(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await asyncio.to_thread(meta.unlink, missing_ok=True)

    async def signed_put_url(
        self, key: str, *, content_type: str, content_length: int, expires_in: int
    ) -> SignedRequest:
        validate_key(key)
        if content_length < 0:
            raise ValueError("content_length must not be negative")
        expires = int(time.time()) + expires_in
        sig = self.sign("PUT", key, expires, content_type, str(content_length))
        query = urlencode({"exp": expires, "ct": content_type, "cl": content_length, "sig": sig})
        return SignedRequest(
            url=f"{self.public_url}{ROUTE_PREFIX}/{quote(key)}?{query}",
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(content_length)},
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
        )

    async def signed_get_url(
        self,
        key: str,
        *,
        expires_in: int,
        filename: str | None = None,
        cache_control: str | None = None,
    ) -> SignedRequest:
        validate_key(key)
        expires = int(time.time()) + expires_in
        params: dict[str, Any] = {"exp": expires}
        if filename:
            params["fn"] = filename
        if cache_control:
            params["cc"] = cache_control
        params["sig"] = self.sign(
            "GET", key, expires, filename or "", *([cache_control] if cache_control else [])
        )
        return SignedRequest(
            url=f"{self.public_url}{ROUTE_PREFIX}/{quote(key)}?{urlencode(params)}",
            method="GET",
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
        )

    # Signatures.

    def sign(self, method: str, key: str, expires: int, *fields: str) -> str:
        message = "\n".join([method, key, str(expires), *fields]).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def verify(
        self, signature: str | None, method: str, key: str, expires: int | None, *fields: str
    ) -> None:
        """403 `forbidden` unless `signature` is ours for these values and has not expired."""
        if not signature or expires is None:
            raise Forbidden("The URL is not signed.")
        expected = self.sign(method, key, expires, *fields)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise Forbidden("The URL signature is not valid.")
        if expires < time.time():
            raise Forbidden("The signed URL has expired.")

    def path_of(self, key: str) -> Path:
        return self._data(key)


def _write_whole(tmp: Path, data: bytes, path: Path, meta: Path, info: ObjectInfo) -> None:
    try:
        tmp.write_bytes(data)
        _commit(tmp, path, meta, info)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _commit(tmp: Path, path: Path, meta: Path, info: ObjectInfo) -> None:
    sidecar = json.dumps(
        {"content_type": info.content_type, "size": info.size, "sha256": info.sha256}
    )
    try:
        os.replace(tmp, path)
    except FileNotFoundError:  # the key's folder is new (the common case tries nothing else)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    try:
        meta.write_text(sidecar)
    except FileNotFoundError:
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(sidecar)


async def _chunks(data: Body) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), CHUNK * 16):
            yield bytes(view[start : start + CHUNK * 16])
        return
    source: AsyncIterable[bytes] = data
    async for chunk in source:
        if chunk:
            yield chunk
