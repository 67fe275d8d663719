"""Footprint: what one player action leaves behind, measured, for docs/capacity.md.

An app built as `playerplatform serve` builds it (production shape: a PostgreSQL database of
its own, Redis under a prefix of its own, jobs in-process), driven in-process through its ASGI
interface by N players, phase by phase. After each phase: the rows each table gained, the bytes
the tables and their indexes gained (`pg_total_relation_size`, after VACUUM so the figures are
of live rows) and the WAL the phase wrote (`pg_current_wal_lsn()` before and after: what a
replica streams and a WAL archive stores). At the end: the Redis keys by kind, with their
memory (`MEMORY USAGE`, every key).

    .venv/bin/python bench/footprint.py [--players 2000]

It prints a Markdown section and writes it to bench/FOOTPRINT.md (that file only).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import functools
import os
import platform
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from _server import forget_redis_keys

from playerplatform.app import create_app
from playerplatform.auth.bootstrap import create_staff_account
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
UNLIMITED = "100000000/minute"
CONCURRENCY = 16
ADMIN_EMAIL = "footprint@bench.test"
ADMIN_PASSWORD = "orbit-lantern-quartz-8841"


async def in_batches(count: int, action: Callable[[int], Awaitable[None]]) -> None:
    """`action(i)` for i < count, CONCURRENCY at a time."""
    for start in range(0, count, CONCURRENCY):
        await asyncio.gather(*(action(i) for i in range(start, min(count, start + CONCURRENCY))))


class Database:
    def __init__(self, name: str) -> None:
        self.name = name
        self.conn: asyncpg.Connection | None = None

    async def open(self) -> None:
        self.conn = await asyncpg.connect(f"{PG}/{self.name}")

    async def sizes(self) -> dict[str, tuple[int, int]]:
        """Per table: (live rows, bytes with indexes and TOAST), after VACUUM."""
        assert self.conn is not None
        await self.conn.execute("VACUUM (ANALYZE)")
        tables = await self.conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'"
        )
        out = {}
        for (table,) in tables:
            rows = await self.conn.fetchval(f'SELECT count(*) FROM "{table}"')
            size = await self.conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
            out[table] = (int(rows), int(size))
        return out

    async def wal(self) -> str:
        assert self.conn is not None
        position = int(await self.conn.fetchval("SELECT pg_current_wal_flush_lsn() - '0/0'"))
        return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"

    async def hold_wal(self) -> str:
        """A replication slot that keeps the WAL from now until `release_wal`: checkpoints on
        a busy shared server would otherwise recycle it before pg_waldump reads it."""
        assert self.conn is not None
        slot = f"footprint_{secrets.token_hex(4)}"
        # Temporary: the server drops it with this connection, whatever happens to the script.
        await self.conn.execute("SELECT pg_create_physical_replication_slot($1, true, true)", slot)
        return slot

    async def release_wal(self, slot: str) -> None:
        assert self.conn is not None
        await self.conn.execute("SELECT pg_drop_replication_slot($1)", slot)

    async def wal_bytes(self, start: str, end: str) -> tuple[int, int]:
        """The WAL this database's records took between two positions. The server is shared
        (other databases write too), so the log is read with pg_waldump and only the records
        of this database's relations count, with the commit records of their transactions.
        Returns (bytes, bytes without full-page images): the first after checkpoints as
        frequent as on this shared server, the second what fewer checkpoints approach."""
        assert self.conn is not None
        oid = await self.conn.fetchval("SELECT oid FROM pg_database WHERE datname = $1", self.name)
        folder = await self.conn.fetchval("SHOW data_directory")
        version = (await self.conn.fetchval("SHOW server_version_num"))[:2]
        waldump = await asyncio.create_subprocess_exec(
            f"/usr/lib/postgresql/{version}/bin/pg_waldump",
            *("-p", f"{folder}/pg_wal", "-s", start, "-e", end),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await waldump.communicate()
        dump = out.decode().splitlines()
        if not dump:
            print(f"  pg_waldump {start}..{end}: {err.decode().strip()}", flush=True)
        mine, total, bare, commits = set(), 0, 0, []
        for line in dump:
            if "len (rec/tot):" not in line:
                continue
            sizes = line.split("len (rec/tot):", 1)[1].split(",", 1)[0].split("/")
            record, size = int(sizes[0]), int(sizes[1])
            tx = line.split("tx:", 1)[1].split(",", 1)[0].strip()
            if f"rel 1663/{oid}/" in line:
                total += size
                bare += record
                mine.add(tx)
            elif line.startswith("rmgr: Transaction"):
                commits.append((tx, size))
        committed = sum(size for tx, size in commits if tx in mine)
        return total + committed, bare + committed


class CountingProxy:
    """A TCP proxy between the app and Redis that counts the commands sent through it (RESP
    arrays at the start of a line: pipelined commands and script calls count one each)."""

    COMMAND = re.compile(rb"(?:^|\r\n)\*\d+\r\n\$")

    def __init__(self, host: str = "127.0.0.1", port: int = 6379) -> None:
        self.upstream = (host, port)
        self.commands = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(
            self._pump(reader, up_writer, count=True), self._pump(up_reader, writer, count=False)
        )

    async def _pump(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, *, count: bool
    ) -> None:
        tail = b""
        try:
            while data := await source.read(65536):
                if count:
                    # A command split across reads is counted once: look at the seam too.
                    self.commands += len(self.COMMAND.findall(tail + data)) - len(
                        self.COMMAND.findall(tail)
                    )
                    tail = data[-16:]
                target.write(data)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            target.close()


# name, rows gained, bytes, WAL, WAL without full-page images, seconds, Redis commands
Phase = tuple[str, dict[str, int], int, int, int, float, int]


async def measure(
    db: Database,
    redis_commands: CountingProxy,
    name: str,
    players: int,
    run: Callable[[], Awaitable[None]],
    out: list[Phase],
) -> None:
    before = await db.sizes()
    slot = await db.hold_wal()
    wal = await db.wal()
    sent = redis_commands.commands
    started = time.monotonic()
    await run()
    took = time.monotonic() - started
    await asyncio.sleep(3)  # the write-behind of scores (every 2 s) and after-commit jobs
    commands = redis_commands.commands - sent
    try:
        written, bare = await db.wal_bytes(wal, await db.wal())
    finally:
        await db.release_wal(slot)
    after = await db.sizes()
    gained = {t: after[t][0] - before.get(t, (0, 0))[0] for t in after}
    grown = sum(after[t][1] - before.get(t, (0, 0))[1] for t in after)
    out.append((name, {t: n for t, n in gained.items() if n}, grown, written, bare, took, commands))
    print(
        f"  {name}: {took:.1f}s, WAL {written / players:.0f} B/action, "
        f"Redis {commands / players:.1f} commands/action",
        flush=True,
    )


async def redis_footprint(prefix: str) -> dict[str, tuple[int, int]]:
    """Keys under `prefix` by kind (the first segment after it): (count, bytes)."""
    client = aioredis.from_url(REDIS_URL)
    kinds: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    try:
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            rest = key.decode()[len(prefix) :]
            kind = rest.split(":", 1)[0].strip("{}") if ":" in rest else rest
            kinds[kind][0] += 1
            kinds[kind][1] += int(await client.memory_usage(key) or 0)
    finally:
        await client.aclose()
    return {k: (v[0], v[1]) for k, v in kinds.items()}


def _machine() -> list[str]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [
        f"- cores (nproc): {os.cpu_count()}",
        f"- CPU: {cpu}",
        f"- Python: {platform.python_version()}",
        f"- PostgreSQL: {run('psql', '-h', '127.0.0.1', '-U', 'postgres', '-Atc', 'SHOW server_version')}",
        f"- Redis: {run('redis-cli', '-h', '127.0.0.1', 'INFO', 'server').split('redis_version:')[-1].split()[0]}",
        f"- load average at the end (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
    ]


def report(
    players: int,
    phases: Sequence[Phase],
    redis: dict[str, tuple[int, int]],
    tables: dict[str, tuple[int, int]],
) -> str:
    lines = [
        "# Footprint: what a player action leaves behind",
        "",
        f"Written by `bench/footprint.py --players {players}` (see its docstring). Production",
        "shape, in-process (ASGI), on PostgreSQL and Redis. Bytes are of live rows with their",
        "indexes after VACUUM, so a table's pages, not its rows, set the granularity: read",
        "figures under ~50 bytes as noise. WAL is what the phase wrote to the log for this",
        "database (pg_waldump, its relations' records and their commits; what a replica streams",
        "and a WAL archive keeps). The test suites on this server force a checkpoint with every",
        "database they create, so many records carry a full-page image: the WAL column is an",
        "upper bound, the next one (records without their page images) the floor that",
        "production checkpoints (every 5-15 min) approach.",
        "",
        "Redis commands are those the app sent during the phase and the 3 s after it (the",
        "write-behind, background checks and the scheduler included), per action.",
        "",
        "| phase (one per player) | rows written | table + index bytes | WAL bytes | WAL without full pages | Redis commands | wall s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, gained, grown, wal, bare, took, commands in phases:
        rows = ", ".join(f"{t} {n / players:.2g}" for t, n in sorted(gained.items()))
        lines.append(
            f"| {name} | {rows or '-'} | {grown / players:,.0f} | {wal / players:,.0f} "
            f"| {bare / players:,.0f} | {commands / players:.1f} | {took:.1f} |"
        )
    lines += [
        "",
        "Tables after all phases (live rows; bytes with indexes and TOAST, after VACUUM):",
        "",
        "| table | rows | bytes | bytes per row |",
        "|---|---:|---:|---:|",
    ]
    for table, (count, size) in sorted(tables.items(), key=lambda kv: -kv[1][1]):
        if count:
            lines.append(f"| `{table}` | {count:,} | {size:,} | {size / count:,.0f} |")
    lines += [
        "",
        f"Redis after all phases ({players} players), by key kind:",
        "",
        "| kind | keys | bytes (MEMORY USAGE) | bytes per player |",
        "|---|---:|---:|---:|",
    ]
    total = 0
    for kind, (count, size) in sorted(redis.items(), key=lambda kv: -kv[1][1]):
        total += size
        lines.append(f"| `{kind}:` | {count:,} | {size:,} | {size / players:,.0f} |")
    lines += [
        f"| all | {sum(c for c, _ in redis.values()):,} | {total:,} | {total / players:,.0f} |"
    ]
    lines += ["", "Machine:", "", *_machine(), ""]
    return "\n".join(lines)


async def main(players: int) -> int:
    run_id = secrets.token_hex(3)
    name = f"pp_bench_footprint_{run_id}"
    prefix = f"ppbench:footprint:{run_id}:"
    admin_conn = await asyncpg.connect(f"{PG}/postgres")
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await migrate.upgrade_async(url)
        redis_commands = await CountingProxy().start()
        settings = Settings(
            database_url=url,
            redis_url=f"redis://127.0.0.1:{redis_commands.port}/0",
            redis_prefix=prefix,
            storage_url=f"file://{ROOT / 'var' / 'footprint-objects'}",
            rate_limit_auth=UNLIMITED,
            rate_limit_read=UNLIMITED,
            rate_limit_write=UNLIMITED,
            rate_limit_failed_login=UNLIMITED,
            max_requests_per_ip=0,
            database_pool_size=8,
            access_log=False,
            log_level="warning",
            gc_tuning=False,
            metrics_port=0,
        )
        app = create_app(settings)
        db = Database(name)
        await db.open()
        phases: list[Phase] = []
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                await create_staff_account(
                    runtime, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin"
                )
                admin = (
                    await client.post(
                        "/api/v1/auth/email/login",
                        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                    )
                ).json()
                staff = {"Authorization": f"Bearer {admin['access_token']}"}
                season = f"footprint-{run_id}"
                for path, body in (
                    ("/api/v1/admin/seasons", {"season_id": season, "name": "Footprint"}),
                    (
                        "/api/v1/admin/skus",
                        {"sku_id": "coins", "type": "consumable", "name": "Coins", "quantity": 1},
                    ),
                ):
                    made = await client.post(path, json=body, headers=staff)
                    assert made.status_code == 201, made.text
                tokens: list[dict[str, str]] = [{} for _ in range(players)]
                ids: list[str] = [""] * players

                async def call(method: str, path: str, status: int, **kw: Any) -> Any:
                    response = await client.request(method, path, **kw)
                    assert response.status_code == status, (path, response.text)
                    return response.json() if response.content else None

                async def sign_in(i: int) -> None:  # the first time: a new device
                    body = await call(
                        "POST",
                        "/api/v1/auth/device/login",
                        200,
                        json={"device_id": f"footprint-{run_id}-{i:06d}"},
                    )
                    tokens[i] = {"Authorization": f"Bearer {body['access_token']}"}
                    ids[i] = body["user"]["canonical_id"]

                async def profile(i: int) -> None:
                    await call(
                        "PATCH",
                        "/api/v1/users/me",
                        200,
                        json={"display_name": "Quiet Pilot"},
                        headers=tokens[i],
                    )

                async def score(i: int) -> None:
                    response = await client.post(
                        f"/api/v1/leaderboards/{season}/scores",
                        json={"score": i},
                        headers=tokens[i],
                    )
                    assert response.status_code in (200, 201), response.text

                async def grant(i: int) -> None:
                    await call(
                        "POST",
                        f"/api/v1/admin/users/{ids[i]}/grants",
                        200,
                        json={"sku_id": "coins", "quantity": 100, "reason": "footprint"},
                        headers=staff,
                    )

                async def spend(i: int) -> None:
                    await call(
                        "POST",
                        "/api/v1/commerce/wallet/spend",
                        200,
                        json={"sku_id": "coins", "quantity": 1, "reason": "shop"},
                        headers={**tokens[i], "Idempotency-Key": secrets.token_hex(8)},
                    )

                async def message(i: int) -> None:
                    await call(
                        "POST",
                        "/api/v1/admin/messages",
                        201,
                        json={
                            "canonical_id": ids[i],
                            "kind": "system",
                            "title": "Hi",
                            "body": "A message from the studio.",
                        },
                        headers=staff,
                    )

                async def reads(i: int) -> None:
                    for path in (
                        "/api/v1/users/me",
                        "/api/v1/config",
                        "/api/v1/commerce/wallet",
                        "/api/v1/commerce/skus",
                        f"/api/v1/leaderboards/{season}?limit=100",
                        f"/api/v1/leaderboards/{season}/around-me",
                        f"/api/v1/users/{ids[(i + 1) % players]}",
                    ):
                        await call("GET", path, 200, headers=tokens[i])

                print(f"footprint: {players} players", flush=True)
                for label, action in (
                    ("first sign-in (new device)", sign_in),
                    ("returning sign-in", sign_in),
                    ("profile update", profile),
                    ("score submission (written behind)", score),
                    ("admin grant of a consumable", grant),
                    ("wallet spend (Idempotency-Key)", spend),
                    ("inbox message from staff", message),
                    (
                        "7 reads of a session (me, config, wallet, catalog, top, around-me, a profile)",
                        reads,
                    ),
                ):
                    await measure(
                        db,
                        redis_commands,
                        label,
                        players,
                        functools.partial(in_batches, players, action),
                        phases,
                    )
        await redis_commands.close()
        redis = await redis_footprint(prefix)
        text = report(players, phases, redis, await db.sizes())
        print(text)
        (ROOT / "bench" / "FOOTPRINT.md").write_text(text)
        assert db.conn is not None
        await db.conn.close()
    finally:
        await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin_conn.close()
        forget_redis_keys(prefix)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=2000)
    sys.exit(asyncio.run(main(parser.parse_args().players)))
