from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from playerplatform.runtime import Runtime
from tests.conftest import RUN_ID
from tests.jobs.support import MODES, create_vhost, delete_vhost

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS test_job_effects "
    "(job_id VARCHAR(64) PRIMARY KEY, applied INTEGER NOT NULL)"
)


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A RabbitMQ vhost of this run's own, deleted (with every queue in it) at the end."""
    name = f"pp_test_{RUN_ID}_{secrets.token_hex(3)}"
    url = create_vhost(name)
    yield url
    delete_vhost(name)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


@pytest.fixture(scope="session")
async def effects_table(runtime: Runtime) -> str:
    """A table the test handlers write their effects to (not part of the schema)."""
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(sa.text(EFFECTS_DDL))
    return "test_job_effects"
