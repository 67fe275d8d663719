"""Object store fixtures: the app's local store, and an S3 store on moto's S3 server, run
over HTTP as a subprocess for the session (`tests/support/s3.py`)."""

from __future__ import annotations

import pytest

from playerplatform.kit.objects import ObjectStore
from playerplatform.runtime import Runtime
from tests.support.s3 import moto_endpoint, s3_store

__all__ = ["moto_endpoint", "s3_store", "store"]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, runtime: Runtime) -> ObjectStore:
    if request.param == "local":
        return runtime.objects
    s3: ObjectStore = request.getfixturevalue("s3_store")
    return s3
