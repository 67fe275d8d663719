"""An S3-compatible server for tests: moto's S3 server over HTTP, one subprocess per test
run (started on first use, stopped when the run ends), and buckets of a test's own."""

from __future__ import annotations

import atexit
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playerplatform.kit.objects.s3 import S3ObjectStore
from tests.jobs.support import die_with_parent
from tests.support.servers import free_port

MOTO_SERVER = Path(sys.executable).with_name("moto_server")
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
_running: dict[str, Any] = {}


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def moto_server() -> str:
    """The run's moto S3 server URL, started on first call."""
    if "url" in _running:
        return str(_running["url"])
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    atexit.register(_stop, process)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    _running["url"] = url
    return url


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield moto_server()


async def create_bucket(endpoint: str, name: str | None = None) -> str:
    """A new, empty bucket on the server; returns its name."""
    bucket = name or f"pp-test-{secrets.token_hex(4)}"
    store = S3ObjectStore(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    try:
        client = await store._s3()
        await client.create_bucket(Bucket=bucket)
    finally:
        await store.close()
    return bucket


def s3_settings(endpoint: str, bucket: str, prefix: str = "platform") -> dict[str, Any]:
    """Settings overrides pointing the object store at `bucket` on the server."""
    return {
        "storage_url": f"s3://{bucket}/{prefix}",
        "s3_endpoint_url": endpoint,
        "s3_region": "us-east-1",
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
    }


@pytest.fixture(scope="session")
async def s3_store(moto_endpoint: str) -> AsyncIterator[S3ObjectStore]:
    bucket = await create_bucket(moto_endpoint)
    store = S3ObjectStore(
        bucket,
        prefix="platform",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    await store.start()
    yield store
    await store.close()
