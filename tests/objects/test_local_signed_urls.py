"""The app's signed object URLs (local store): a bad, tampered or expired signature is 403
`forbidden`; an upload must match the signed type and size; keys never leave the folder."""

from __future__ import annotations

import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from playerplatform.kit.objects.local import LocalObjectStore
from playerplatform.runtime import Runtime


def fresh_key(name: str = "file.bin") -> str:
    return f"tests/{secrets.token_hex(6)}/{name}"


def local(runtime: Runtime) -> LocalObjectStore:
    assert isinstance(runtime.objects, LocalObjectStore)
    return runtime.objects


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def with_param(url: str, name: str, value: str) -> str:
    parsed = httpx.URL(url)
    return path_of(str(parsed.copy_set_param(name, value)))


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "forbidden"


async def signed_put(runtime: Runtime, key: str, size: int, expires_in: int = 300) -> Any:
    return await local(runtime).signed_put_url(
        key, content_type="application/zip", content_length=size, expires_in=expires_in
    )


async def test_tampered_signatures_are_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    key = fresh_key()
    await local(runtime).put(key, b"secret level", content_type="application/octet-stream")
    get = await local(runtime).signed_get_url(key, expires_in=300)
    assert (await client.get(path_of(get.url))).status_code == 200

    sig = httpx.URL(get.url).params["sig"]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert_forbidden(await client.get(with_param(get.url, "sig", flipped)))
    assert_forbidden(await client.get(with_param(get.url, "exp", str(int(time.time()) + 9999))))
    assert_forbidden(await client.get(with_param(get.url, "fn", "other.bin")))
    other = fresh_key()
    await local(runtime).put(other, b"another")
    assert_forbidden(await client.get(path_of(get.url).replace(key, other)))
    assert_forbidden(await client.get(f"/objects/{key}"))  # unsigned

    put = await signed_put(runtime, fresh_key(), 10)
    body = {"content": b"0123456789", "headers": put.headers}
    assert_forbidden(await client.put(with_param(put.url, "cl", "100"), **body))
    assert_forbidden(await client.put(with_param(put.url, "ct", "text/html"), **body))


async def test_expired_urls_are_refused(runtime: Runtime, client: httpx.AsyncClient) -> None:
    key = fresh_key()
    await local(runtime).put(key, b"old")
    get = await local(runtime).signed_get_url(key, expires_in=-1)
    assert_forbidden(await client.get(path_of(get.url)))
    put = await signed_put(runtime, fresh_key(), 3, expires_in=-1)
    assert_forbidden(await client.put(path_of(put.url), content=b"abc", headers=put.headers))


async def test_an_upload_must_match_the_signed_size_and_type(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    key = fresh_key()
    put = await signed_put(runtime, key, 10)

    too_big = await client.put(
        path_of(put.url),
        content=b"0123456789-and-more",
        headers={"Content-Type": "application/zip"},
    )
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"x" * 1000

    streamed = await client.put(
        path_of(put.url), content=endless(), headers={"Content-Type": "application/zip"}
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"

    short = await client.put(
        path_of(put.url), content=b"0123", headers={"Content-Type": "application/zip"}
    )
    assert short.status_code == 400

    wrong_type = await client.put(
        path_of(put.url), content=b"0123456789", headers={"Content-Type": "text/html"}
    )
    assert_forbidden(wrong_type)
    assert not await local(runtime).exists(key)
    assert not any((local(runtime).root / "tmp").iterdir())  # refused uploads leave nothing

    ok = await client.put(path_of(put.url), content=b"0123456789", headers=put.headers)
    assert ok.status_code == 200
    assert await local(runtime).get(key) == b"0123456789"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/objects/tests/%2e%2e/%2e%2e/signing.key",
        "/objects/%2Fetc%2Fpasswd",
        "/objects/a%5Cb",
        "/objects/a%00b",
    ],
)
async def test_keys_escaping_the_folder_are_refused_over_http(
    runtime: Runtime, client: httpx.AsyncClient, raw_path: str
) -> None:
    store = local(runtime)
    # Even a correctly signed URL for such a key cannot be made, and none is accepted.
    response = await client.get(f"{raw_path}?exp={int(time.time()) + 60}&sig=x")
    assert response.status_code in (403, 404)
    assert response.headers["content-type"].startswith("application/problem+json")
    put = await client.put(f"{raw_path}?exp={int(time.time()) + 60}&ct=a&cl=1&sig=x", content=b"x")
    assert put.status_code in (403, 404)
    assert not (store.root.parent / "signing.key").exists()


async def test_signed_uploads_are_exempt_from_the_json_body_limit(
    make_client: Callable[..., Any], runtime: Runtime
) -> None:
    body = secrets.token_bytes(8192)
    key = fresh_key()
    put = await local(runtime).signed_put_url(
        key, content_type="application/octet-stream", content_length=len(body), expires_in=60
    )
    async with make_client(max_body_bytes=1024) as small_limit:
        uploaded = await small_limit.put(path_of(put.url), content=body, headers=put.headers)
        assert uploaded.status_code == 200, uploaded.text
        json_route = await small_limit.post(
            "/api/v1/auth/device/login", content=b"{" + b" " * 4096 + b"}"
        )
        assert json_route.status_code == 413
    assert await local(runtime).get(key) == body


def test_generated_signing_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = LocalObjectStore(tmp_path / "objects", public_url="http://127.0.0.1:8080")
    key_file = tmp_path / "objects" / "signing.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = LocalObjectStore(tmp_path / "objects", public_url="http://127.0.0.1:8080")
    assert first.sign("GET", "a", 1) == second.sign("GET", "a", 1)
    configured = LocalObjectStore(
        tmp_path / "objects", public_url="http://x", signing_key=b"from-settings"
    )
    assert configured.sign("GET", "a", 1) != first.sign("GET", "a", 1)
