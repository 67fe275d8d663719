"""Read replicas against the real streaming replica (`scripts/services.sh`: 127.0.0.1:5433, a
hot standby of the test server): lag-tolerant routes read from it, a player reads their own
writes, a replica behind more than the bound or down is skipped, and never a 503 for it.

Replay on the replica is paused (`pg_wal_replay_pause()`) to make it lag on purpose; the
fixture resumes it whatever happens. Each test has a database of its own (whatever the
shape), created on the primary and reached on the replica by replication.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.conftest import PG_SERVER, asgi_client, fresh_database, running_app
from tests.support.ops import METRICS_AUTH
from tests.support.players import auth, device_login
from tests.support.proxy import TcpProxy

REPLICA_PORT = 5433

# Each test takes seconds; one that hangs (a wait nothing bounds) fails in two minutes and
# names its own stack, instead of holding its run for the suite-wide five.
pytestmark = pytest.mark.timeout(120)


async def _replica_admin(sql: str) -> Any:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{REPLICA_PORT}/postgres")
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def pause_replay() -> None:
    await _replica_admin("SELECT pg_wal_replay_pause()")


async def resume_replay() -> None:
    await _replica_admin("SELECT pg_wal_replay_resume()")


async def _replica_has(name: str) -> bool:
    try:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{REPLICA_PORT}/{name}")
    except (asyncpg.InvalidCatalogNameError, OSError):
        return False
    try:
        # The migrations have replayed too: the last table they make is there.
        return bool(await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def replicated_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database of this module's own on the primary, once the replica has it."""
    async with fresh_database(tmp_path_factory.mktemp("replicas"), "production") as url:
        await migrate.upgrade_async(url)
        # Autovacuum truncating a table takes an exclusive lock the replica replays: with
        # replay paused between its lock and its release, reads of that table on the replica
        # would wait (and, past the read timeout, go to the primary) in tests that pause.
        primary = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            for (table,) in await primary.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ):
                await primary.execute(
                    f'ALTER TABLE "{table}" SET (vacuum_truncate = false, toast.vacuum_truncate = false)'
                )
        finally:
            await primary.close()
        deadline = time.monotonic() + 30
        while not await _replica_has(make_url(url).database or ""):
            assert time.monotonic() < deadline, "the replica never showed the database"
            await asyncio.sleep(0.1)
        yield url


@pytest.fixture
async def replicated(replicated_database: str) -> AsyncIterator[tuple[str, str, TcpProxy]]:
    """The database's URL, its URL on the replica through a proxy the test may cut; replay
    is resumed afterwards whatever happened."""
    # The replica is the machine's: `make test` runs the suite twice at once, and one run's
    # pause must not meet the other's resume. A session lock on the primary takes turns.
    turn = await asyncpg.connect(f"postgresql://{PG_SERVER}/test")
    await turn.execute("SELECT pg_advisory_lock(hashtext('playerplatform-test-replica'))")
    proxy = await TcpProxy("127.0.0.1", REPLICA_PORT).start()
    target = make_url(replicated_database)
    replica_url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    try:
        yield replicated_database, replica_url, proxy
    finally:
        await resume_replay()
        await proxy.close()
        await turn.close()  # the lock goes with the session


async def _flush_wal(url: str) -> None:
    """Have the primary flush its WAL to here: a transaction with an id commits, and its
    commit flushes every record before it."""
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.fetchval("SELECT pg_current_xact_id()")
    finally:
        await conn.close()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


def replica_settings(
    make_settings: Callable[..., Settings], url: str, replica_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "database_replica_urls": [replica_url],
        "replica_check_seconds": 0.1,
        "replica_max_lag_seconds": 60.0,
    }
    values.update(overrides)
    return make_settings(**values)


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def replica_state(runtime: Runtime) -> Any:
    return runtime.db.replicas.replicas[0]


# Page sizes of the season list not read yet in this module (its apps share cached views).
_UNREAD_LIMITS = iter(range(1, 101))


async def unread_seasons_page(client: httpx.AsyncClient) -> httpx.Response:
    """A page of the season list (a replica read) no one read before, so no cached view
    answers it and the read goes to the database."""
    return await client.get("/api/v1/leaderboards/seasons", params={"limit": next(_UNREAD_LIMITS)})


async def profile(client: httpx.AsyncClient, player: dict[str, Any], **kw: Any) -> httpx.Response:
    return await client.get(f"/api/v1/users/{player['user']['canonical_id']}", **kw)


async def test_reads_go_to_the_replica_and_a_player_reads_their_own_writes(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    url, replica_url, _proxy = replicated
    settings = replica_settings(make_settings, url, replica_url)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        await until(lambda: _up(runtime), "the replica never came up")
        await pause_replay()
        newcomer = await device_login(client)  # on the primary only, from now on

        # A stranger reads from the replica, which has not replayed the newcomer yet...
        assert (await profile(client, newcomer)).status_code == 404
        # ...while the newcomer's own reads go to the primary until the replica has it.
        mine = await profile(client, newcomer, headers=auth(newcomer))
        assert mine.status_code == 200, mine.text

        # A write through a route pins its author the same way.
        renamed = await client.patch(
            "/api/v1/users/me", json={"display_name": "Replayed Later"}, headers=auth(newcomer)
        )
        assert renamed.status_code == 200, renamed.text
        mine = await profile(client, newcomer, headers=auth(newcomer))
        assert mine.json()["profile"]["display_name"] == "Replayed Later"

        await resume_replay()

        async def stranger_sees_it() -> bool:
            response = await profile(client, newcomer)
            return response.status_code == 200 and (
                response.json()["profile"]["display_name"] == "Replayed Later"
            )

        await until(stranger_sees_it, "the replica never caught up")


async def test_a_stale_answer_of_a_replica_is_never_cached_as_current(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    url, replica_url, _proxy = replicated
    settings = replica_settings(make_settings, url, replica_url)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        player = await device_login(client)
        replicas = runtime.db.replicas

        async def replayed_all() -> bool:
            position = await replicas.primary_position()
            await replicas.check()
            return bool(replica_state(runtime).up and replica_state(runtime).replayed >= position)

        await until(replayed_all, "the replica never replayed the player", timeout=30)
        await pause_replay()
        renamed = await client.patch(
            "/api/v1/users/me", json={"display_name": "Fresh Name"}, headers=auth(player)
        )
        assert renamed.status_code == 200, renamed.text

        # A stranger reads the replica's (older) profile: answered, but not kept under the
        # generation the rename made...
        stale = await profile(client, player)
        assert stale.status_code == 200
        assert stale.json()["profile"]["display_name"] != "Fresh Name"

        await resume_replay()
        await until(replayed_all, "the replica never caught up", timeout=30)
        # ...so once the replica has the rename, nobody reads the old name again.
        fresh = await profile(client, player)
        assert fresh.json()["profile"]["display_name"] == "Fresh Name"


async def test_a_replica_behind_more_than_the_bound_is_skipped(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    url, replica_url, _proxy = replicated
    patient = replica_settings(make_settings, url, replica_url)
    strict = replica_settings(make_settings, url, replica_url, replica_max_lag_seconds=0.5)
    async with (
        running_app(patient) as (patient_app, patient_rt),
        running_app(strict) as (strict_app, strict_rt),
        asgi_client(patient_app) as tolerant,
        asgi_client(strict_app) as demanding,
    ):
        await until(lambda: _up(patient_rt), "the replica never came up")
        await until(lambda: _up(strict_rt), "the replica never came up")
        await pause_replay()
        newcomer = await device_login(tolerant)

        async def lag_beyond_bound() -> bool:
            return bool(replica_state(strict_rt).lag > 0.5)

        await until(lag_beyond_bound, "the paused replica's lag never grew")
        # 60 s of lag allowed: still the replica, which lacks the newcomer.
        assert (await profile(tolerant, newcomer)).status_code == 404
        # Half a second allowed: the replica is skipped, the primary answers.
        assert (await profile(demanding, newcomer)).status_code == 200

        await resume_replay()

        async def back_within_bound() -> bool:
            # Other runs write to the same server all along: back within the bound, not at 0.
            return bool(replica_state(strict_rt).lag <= 0.5)

        await until(back_within_bound, "the lag never came back within the bound")
        # The replica serves the strict node again, and it has the newcomer now.
        assert (await profile(demanding, newcomer)).status_code == 200


async def test_a_replica_down_is_skipped_without_a_503(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    url, replica_url, proxy = replicated
    # Checks far apart: the read itself must notice the replica is gone.
    settings = replica_settings(make_settings, url, replica_url, replica_check_seconds=30.0)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        await until(lambda: _up(runtime), "the replica never came up")
        replica = replica_state(runtime)

        assert (await unread_seasons_page(client)).status_code == 200

        proxy.cut()
        started = time.monotonic()
        for _ in range(3):
            response = await unread_seasons_page(client)
            assert response.status_code == 200, response.text
        assert time.monotonic() - started < 5
        assert replica.up is False  # skipped from the first failure on, before any check
        await runtime.db.replicas.check()
        assert replica.up is False
        exposition = (await client.get("/metrics", headers=METRICS_AUTH)).text
        label = f'replica="{replica.label}"'
        assert f"db_replica_up{{{label}}} 0.0" in exposition
        repeated = [
            line for line in exposition.splitlines() if line.startswith("db_replica_reads_repeated")
        ]
        assert repeated and float(repeated[0].split()[-1]) >= 1

        proxy.restore()
        await runtime.db.replicas.check()
        assert replica.up is True
        assert (await unread_seasons_page(client)).status_code == 200


async def test_a_read_the_replica_holds_is_answered_by_the_primary(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    """A replica replaying an exclusive lock holds reads of that table until it replays the
    release, for ever while replay is paused: such a read is cancelled on the replica after
    `replica_read_timeout_seconds` and answered by the primary."""
    url, replica_url, _proxy = replicated
    settings = replica_settings(make_settings, url, replica_url, replica_read_timeout_seconds=1.0)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        player = await device_login(client)
        await until(lambda: _up(runtime), "the replica never came up")
        database = make_url(url).database
        primary = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            holder = primary.transaction()
            await holder.start()
            await primary.execute("LOCK TABLE profiles IN ACCESS EXCLUSIVE MODE")
            # The lock's WAL record waits in the primary's buffers until something flushes
            # them; on an otherwise idle server nothing would. A commit elsewhere does.
            await _flush_wal(url)

            async def replica_holds_the_lock() -> bool:
                held = await _replica_admin(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    f" WHERE d.datname = '{database}' AND l.mode = 'AccessExclusiveLock'"
                )
                return bool(held)

            await until(replica_holds_the_lock, "the replica never replayed the lock")
            await pause_replay()
            await holder.rollback()  # released on the primary; the replica holds it on
        finally:
            await primary.close()

        started = time.monotonic()
        try:
            answer = await asyncio.wait_for(profile(client, player), timeout=20)
        finally:
            # Released before the app stops: nothing of its shutdown may wait on the lock.
            await resume_replay()
        waited = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert answer.json()["profile"]["display_name"] == player["user"]["profile"]["display_name"]
        assert 0.9 < waited < 10, f"answered after {waited:.1f}s"


async def _up(runtime: Runtime) -> bool:
    return bool(replica_state(runtime).up)


async def test_a_replica_gone_silent_is_skipped_without_a_503(
    make_settings: Callable[..., Settings], replicated: tuple[str, str, TcpProxy]
) -> None:
    """A replica that stops answering under connections already open: the read gives up
    after the replica's bound, its connection is dropped, and the primary answers."""
    url, replica_url, proxy = replicated
    settings = replica_settings(
        make_settings,
        url,
        replica_url,
        replica_check_seconds=30.0,
        replica_read_timeout_seconds=1.0,
        database_timeout_seconds=1.0,
    )
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        await until(lambda: _up(runtime), "the replica never came up")

        assert (await unread_seasons_page(client)).status_code == 200
        proxy.silence()
        started = time.monotonic()
        for _ in range(3):
            response = await asyncio.wait_for(unread_seasons_page(client), timeout=20)
            assert response.status_code == 200, response.text
        assert time.monotonic() - started < 6  # the first read's bound, then the primary
        assert replica_state(runtime).up is False
        await asyncio.wait_for(runtime.db.replicas.check(), timeout=10)
        assert replica_state(runtime).up is False

        proxy.restore()
        await runtime.db.replicas.check()
        assert replica_state(runtime).up is True
        assert (await unread_seasons_page(client)).status_code == 200
