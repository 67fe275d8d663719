"""S3-compatible object store (aiobotocore): AWS S3, MinIO, R2. `PP_STORAGE_URL=s3://bucket`
(or `s3://bucket/prefix`), with `PP_S3_ENDPOINT_URL` (path-style addressing when set),
`PP_S3_REGION` and the access keys (unset: the usual AWS credential chain).

Signed uploads are presigned PUTs that sign `Content-Type` and `Content-Length`, so S3
refuses a body of another size or type; downloads are presigned GETs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from playerplatform.kit.db import utcnow
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

PART_SIZE = 8 * 1024 * 1024  # multipart above this (S3's minimum part is 5 MiB)
SHA256_META = "sha256"


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3ObjectStore:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client_args: dict[str, Any] = {
            "region_name": region,
            "endpoint_url": endpoint_url,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        bucket, _, prefix = settings.storage_url.removeprefix("s3://").partition("/")
        secret = settings.s3_secret_access_key
        return cls(
            bucket,
            prefix=prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )

    async def start(self) -> None:
        if self._client is None:
            self._stack = AsyncExitStack()
            self._client = await self._stack.enter_async_context(
                get_session().create_client("s3", **self._client_args)
            )

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None

    async def _s3(self) -> Any:
        if self._client is None:
            await self.start()
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    async def ping(self) -> None:
        await (await self._s3()).head_bucket(Bucket=self.bucket)

    async def put(
        self, key: str, data: Body, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        s3, full = await self._s3(), self._key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            digest = hashlib.sha256(body).hexdigest()
            await s3.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=body,
                ContentType=content_type,
                Metadata={SHA256_META: digest},
            )
            return ObjectInfo(key, len(body), content_type, digest)
        return await self._put_stream(s3, key, full, data, content_type)

    async def put_many(self, objects: Sequence[NewObject]) -> list[ObjectInfo]:
        return list(
            await asyncio.gather(
                *(self.put(o.key, o.data, content_type=o.content_type) for o in objects)
            )
        )

    async def _put_stream(
        self, s3: Any, key: str, full: str, data: Any, content_type: str
    ) -> ObjectInfo:
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        async def send_part(upload: str) -> None:
            number = len(parts) + 1
            part = await s3.upload_part(
                Bucket=self.bucket, Key=full, UploadId=upload, PartNumber=number, Body=bytes(buffer)
            )
            parts.append({"ETag": part["ETag"], "PartNumber": number})
            buffer.clear()

        try:
            async for chunk in data:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        created = await s3.create_multipart_upload(
                            Bucket=self.bucket, Key=full, ContentType=content_type
                        )
                        upload_id = created["UploadId"]
                    await send_part(upload_id)
            if upload_id is None:
                await s3.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=bytes(buffer),
                    ContentType=content_type,
                    Metadata={SHA256_META: digest.hexdigest()},
                )
                return ObjectInfo(key, size, content_type, digest.hexdigest())
            if buffer:
                await send_part(upload_id)
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        # Multipart objects carry no checksum of the whole: the hash is known only now.
        return ObjectInfo(key, size, content_type, digest.hexdigest())

    async def get(self, key: str) -> bytes:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(f"No object {key}.")
            raise
        async with response["Body"] as body:
            data: bytes = await body.read()
        return data

    async def stream(self, key: str, *, chunk_size: int = 65_536) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(f"No object {key}.")
            raise
        async with response["Body"] as body:
            while chunk := await body.read(chunk_size):
                yield chunk

    async def head(self, key: str) -> ObjectInfo:
        s3 = await self._s3()
        try:
            response = await s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                raise ObjectNotFound(f"No object {key}.")
            raise
        metadata = response.get("Metadata") or {}
        return ObjectInfo(
            key,
            int(response["ContentLength"]),
            response.get("ContentType") or DEFAULT_CONTENT_TYPE,
            metadata.get(SHA256_META),
        )

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        await (await self._s3()).delete_object(Bucket=self.bucket, Key=self._key(key))

    async def signed_put_url(
        self, key: str, *, content_type: str, content_length: int, expires_in: int
    ) -> SignedRequest:
        s3 = await self._s3()
        url = await s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=expires_in,
        )
        return SignedRequest(
            url=url,
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(content_length)},
            expires_at=utcnow().replace(microsecond=0) + dt.timedelta(seconds=expires_in),
        )

    async def signed_get_url(
        self,
        key: str,
        *,
        expires_in: int,
        filename: str | None = None,
        cache_control: str | None = None,
    ) -> SignedRequest:
        s3 = await self._s3()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            safe = filename.replace('"', "").replace("\\", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        if cache_control:
            params["ResponseCacheControl"] = cache_control
        url = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return SignedRequest(
            url=url,
            method="GET",
            expires_at=utcnow().replace(microsecond=0) + dt.timedelta(seconds=expires_in),
        )
