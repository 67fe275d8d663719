"""Object store fixtures: the app's local store, and an S3 store on moto's S3 server, run
over HTTP as a subprocess for the session."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from playerplatform.kit.objects import ObjectStore
from playerplatform.kit.objects.s3 import S3ObjectStore
from playerplatform.runtime import Runtime
from tests.jobs.support import die_with_parent
from tests.support.servers import free_port

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
async def s3_store(moto_endpoint: str) -> AsyncIterator[S3ObjectStore]:
    bucket = f"pp-test-{secrets.token_hex(4)}"
    store = S3ObjectStore(
        bucket,
        prefix="platform",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        access_key_id="test-access-key",
        secret_access_key="test-secret-key",
    )
    await store.start()
    client = await store._s3()
    await client.create_bucket(Bucket=bucket)
    yield store
    await store.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, runtime: Runtime) -> ObjectStore:
    if request.param == "local":
        return runtime.objects
    s3: ObjectStore = request.getfixturevalue("s3_store")
    return s3
