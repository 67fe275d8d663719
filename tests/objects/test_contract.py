"""One contract for every object store adapter: the local folder (URLs signed and served by
the app) and S3 (moto's S3 server over HTTP)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from playerplatform.kit.objects import NewObject, ObjectNotFound, ObjectStore, SignedRequest
from playerplatform.kit.objects.keys import InvalidObjectKey, key_segment, safe_filename
from playerplatform.kit.objects.local import LocalObjectStore

BAD_KEYS = ["../escape", "a/../../b", "/etc/passwd", "a\\b", "a\x00b", "a//b", "./a", "a/", ""]


def fresh_key(name: str = "file.bin") -> str:
    return f"tests/{secrets.token_hex(6)}/{name}"


async def send(
    app_client: httpx.AsyncClient, signed: SignedRequest, **kwargs: object
) -> httpx.Response:
    """Send a signed request as a game client would: to the app for local URLs (over ASGI),
    straight to the S3 server otherwise."""
    url = httpx.URL(signed.url)
    if url.path.startswith("/objects/"):
        return await app_client.request(
            signed.method,
            url.raw_path.decode(),
            **kwargs,  # type: ignore[arg-type]
        )
    async with httpx.AsyncClient() as direct:
        return await direct.request(signed.method, signed.url, **kwargs)  # type: ignore[arg-type]


async def test_put_get_head_exists_delete(store: ObjectStore) -> None:
    key = fresh_key("report.json")
    body = b'{"verdict": "clean"}'
    info = await store.put(key, body, content_type="application/json")
    assert info.size == len(body) and info.sha256 == hashlib.sha256(body).hexdigest()
    assert await store.get(key) == body
    head = await store.head(key)
    assert (head.size, head.content_type, head.sha256) == (
        len(body),
        "application/json",
        info.sha256,
    )
    assert await store.exists(key)
    await store.put(key, b"replaced", content_type="text/plain")
    assert await store.get(key) == b"replaced"
    await store.delete(key)
    assert not await store.exists(key)
    await store.delete(key)  # deleting what is gone is fine
    with pytest.raises(ObjectNotFound):
        await store.get(key)
    with pytest.raises(ObjectNotFound):
        await store.head(key)


async def test_put_many_stores_each_as_put_would(store: ObjectStore) -> None:
    folder = f"tests/{secrets.token_hex(6)}"
    objects = [
        NewObject(f"{folder}/a.json", b'{"n": 1}', "application/json"),
        NewObject(f"{folder}/deeper/b.txt", b"second", "text/plain"),
    ]
    await store.put(f"{folder}/a.json", b"old", content_type="text/plain")  # replaced
    infos = await store.put_many(objects)
    assert [(i.key, i.size) for i in infos] == [(o.key, len(o.data)) for o in objects]
    assert [i.sha256 for i in infos] == [hashlib.sha256(o.data).hexdigest() for o in objects]
    assert await store.get(f"{folder}/a.json") == b'{"n": 1}'
    assert (await store.head(f"{folder}/a.json")).content_type == "application/json"
    head = await store.head(f"{folder}/deeper/b.txt")
    assert (head.size, head.content_type) == (6, "text/plain")
    assert await store.put_many([]) == []
    with pytest.raises(InvalidObjectKey):
        await store.put_many([NewObject("../escape", b"x")])


async def test_streams_in_and_out(store: ObjectStore) -> None:
    key = fresh_key("level.pak")
    chunks = [secrets.token_bytes(70_000) for _ in range(5)]

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    info = await store.put(key, source(), content_type="application/octet-stream")
    whole = b"".join(chunks)
    assert info.size == len(whole) and info.sha256 == hashlib.sha256(whole).hexdigest()
    received = b"".join([chunk async for chunk in store.stream(key, chunk_size=50_000)])
    assert received == whole
    with pytest.raises(ObjectNotFound):
        async for _ in store.stream(fresh_key()):
            pass


async def test_signed_upload_then_signed_download(
    store: ObjectStore, client: httpx.AsyncClient
) -> None:
    key = fresh_key("castle.zip")
    body = secrets.token_bytes(4096)
    put = await store.signed_put_url(
        key, content_type="application/zip", content_length=len(body), expires_in=300
    )
    assert put.method == "PUT" and put.headers["Content-Type"] == "application/zip"
    assert put.headers["Content-Length"] == str(len(body))
    uploaded = await send(client, put, content=body, headers=put.headers)
    assert uploaded.status_code == 200, uploaded.text
    head = await store.head(key)
    assert (head.size, head.content_type) == (len(body), "application/zip")

    get = await store.signed_get_url(key, expires_in=300, filename="castle.zip")
    downloaded = await send(client, get)
    assert downloaded.status_code == 200
    assert downloaded.content == body
    assert 'filename="castle.zip"' in downloaded.headers["content-disposition"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_keys_that_could_escape_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidObjectKey):
        await store.get(key)
    with pytest.raises(InvalidObjectKey):
        await store.signed_put_url(key, content_type="text/plain", content_length=1, expires_in=60)
    with pytest.raises(InvalidObjectKey):
        await store.signed_get_url(key, expires_in=60)


async def test_s3_presigned_upload_binds_size_and_type(store: ObjectStore) -> None:
    put = await store.signed_put_url(
        fresh_key(), content_type="image/png", content_length=123, expires_in=60
    )
    query = httpx.URL(put.url).params
    if isinstance(store, LocalObjectStore):
        assert (query["ct"], query["cl"]) == ("image/png", "123")
    else:  # S3 refuses a body whose headers differ from the signed ones
        signed = query["X-Amz-SignedHeaders"].split(";")
        assert "content-length" in signed and "content-type" in signed


def test_key_pieces_are_single_safe_segments() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..") == "file"
    assert safe_filename("My Castle (v2).zip") == "My_Castle_v2_.zip"
    assert key_segment("ord_42", "order id") == "ord_42"
    for unsafe in ("a/b", "..", ".", "", "../x"):
        with pytest.raises(InvalidObjectKey):
            key_segment(unsafe, "order id")


async def test_a_stream_larger_than_one_part_goes_up_in_parts(store: ObjectStore) -> None:
    # Above 8 MiB the S3 adapter switches to a multipart upload (a full part, then the rest).
    key = fresh_key("big.pak")
    chunks = [secrets.token_bytes(1024 * 1024) for _ in range(12)]

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    info = await store.put(key, source(), content_type="application/octet-stream")
    whole = b"".join(chunks)
    assert info.size == len(whole) and info.sha256 == hashlib.sha256(whole).hexdigest()
    received = b"".join([chunk async for chunk in store.stream(key, chunk_size=1024 * 1024)])
    assert received == whole
