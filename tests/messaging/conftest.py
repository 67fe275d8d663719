"""Messaging fixtures: one admin for the whole run (creating staff hashes a password)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from playerplatform.runtime import Runtime
from tests.conftest import asgi_client
from tests.support.staff import staff_login


@pytest.fixture(scope="session")
async def admin(app: FastAPI, runtime: Runtime) -> dict[str, Any]:
    async with asgi_client(app) as client:
        return await staff_login(client, runtime, "admin")
