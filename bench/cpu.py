"""CPU per request, in-process: the census's calls against an app built as `playerplatform
serve` builds it (production shape: PostgreSQL and Redis), driven through its ASGI interface,
timing `time.process_time()` so other work on a shared machine does not count.

    .venv/bin/python bench/cpu.py                       # every call, fast dispatch on
    .venv/bin/python bench/cpu.py --fast-dispatch false
    .venv/bin/python bench/cpu.py --only "PATCH /api/v1/users/me" --profile 25

Each request is another player's (as in the census), writes carry a fresh Idempotency-Key.
The figure includes this script's ASGI client (about 0.1 ms per request). `--profile N`
prints the N functions with the most own CPU time under `cProfile` for each selected call.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import pstats
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from _server import forget_redis_keys, seed_inbox_sql

from playerplatform.app import create_app
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings

PG = "postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"
UNLIMITED = "100000000/minute"
ADMIN_EMAIL = "cpu-admin@localhost.test"
ADMIN_PASSWORD = "cpu-staple-horse-" + secrets.token_hex(6)
PLAYERS = 120
MESSAGES_PER_PLAYER = 50


@dataclass
class Player:
    token: str
    canonical_id: str
    device: str


class Client:
    """The smallest ASGI client: one request at a time, the answer's status and body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        idempotent: bool = True,
    ) -> tuple[int, bytes]:
        path, _, query = path.partition("?")
        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"cpu-bench")]
        raw = b""
        if body is not None:
            raw = orjson.dumps(body)
            headers += [(b"content-type", b"application/json")]
            headers += [(b"content-length", str(len(raw)).encode())]
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        if method != "GET" and idempotent:
            headers.append((b"idempotency-key", secrets.token_hex(8).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def json(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, raw = await self.call(method, path, body, token)
        if status >= 300:
            raise RuntimeError(f"{method} {path} answered {status}: {raw[:300]!r}")
        return orjson.loads(raw) if raw else None


@dataclass(frozen=True)
class World:
    players: list[Player]
    admin: str
    season: str
    items: list[str]
    gifts: dict[str, list[str]]  # unclaimed gift messages by player


async def prepare(client: Client, database: str) -> World:
    admin = await client.json(
        "POST", "/api/v1/auth/email/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    staff = admin["access_token"]
    for sku in (
        {"sku_id": "cpu-coins", "type": "consumable", "name": "Coins", "quantity": 1},
        {"sku_id": "cpu-cape", "type": "durable", "name": "Cape"},
    ):
        await client.json("POST", "/api/v1/admin/skus", sku, staff)
    season = f"cpu-{secrets.token_hex(3)}"
    await client.json("POST", "/api/v1/admin/seasons", {"season_id": season, "name": "Cpu"}, staff)
    players = []
    for n in range(PLAYERS):
        device = f"cpu-{secrets.token_hex(4)}-{n:04d}"
        login = await client.json("POST", "/api/v1/auth/device/login", {"device_id": device})
        player = Player(login["access_token"], login["user"]["canonical_id"], device)
        grants = f"/api/v1/admin/users/{player.canonical_id}/grants"
        body = {"sku_id": "cpu-coins", "quantity": 1000, "reason": "cpu"}
        await client.json("POST", grants, body, staff)
        if n % 2 == 0:
            await client.json("POST", grants, {"sku_id": "cpu-cape", "reason": "cpu"}, staff)
        await client.json(
            "POST", f"/api/v1/leaderboards/{season}/scores", {"score": n}, player.token
        )
        players.append(player)
    conn = await asyncpg.connect(f"postgresql://{PG}/{database}")
    try:
        await conn.execute(
            """
            INSERT INTO ugc (id, public_id, creator_id, type, name, description, tags, metadata,
                status, visibility, filename, upload_key, object_key, content_type, size,
                checksum, scan_state, scan_round, downloads_count, rating_sum, rating_count,
                rating_average, created_at, updated_at, uploaded_at, published_at)
            SELECT gen_random_uuid(), 'u' || lpad(to_hex(n), 24, '0'), u.id, 'map',
                'Bench map ' || n, 'A seeded map', '["bench"]'::jsonb, '{}'::jsonb,
                'published', 'public', 'map.zip', 'ugc/map/' || n || '/map.zip',
                'ugc/map/' || n || '/released/map.zip', 'application/zip', 1024,
                repeat('0', 64), 'clean', 1, 0, 3, 1, 3, now(), now(), now(), now()
            FROM generate_series(1, 200) AS n, users AS u WHERE u.canonical_id = $1
            """,
            players[0].canonical_id,
        )
        items = [r[0] for r in await conn.fetch("SELECT public_id FROM ugc ORDER BY public_id")]
        # Inbox messages, half of them gifts with coins attached, as bench/messaging.py's.
        await conn.execute(seed_inbox_sql("cpu-coins", MESSAGES_PER_PLAYER))
        gifts: dict[str, list[str]] = {}
        for canonical_id, message_id in await conn.fetch(
            "SELECT u.canonical_id, m.message_id FROM inbox_messages m JOIN users u"
            " ON u.id = m.user_id WHERE m.kind = 'gift'"
        ):
            gifts.setdefault(canonical_id, []).append(message_id)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return World(players, staff, season, items, gifts)


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    body: Callable[[int, Player, Player], Any] | None = None
    admin: bool = False
    new_device: bool = False
    idempotent: bool = True  # a write sends a fresh Idempotency-Key


def read(path: str, *, admin: bool = False) -> Call:
    """A GET named after its path."""
    return Call(f"GET {path}", "GET", path, admin=admin)


def _n(n: int, _me: Player, _other: Player) -> Any:
    return n


CALLS = [
    Call(
        "POST /api/v1/auth/device/login (new device)",
        "POST",
        "/api/v1/auth/device/login",
        new_device=True,
    ),
    Call(
        "POST /api/v1/auth/device/login (returning device)",
        "POST",
        "/api/v1/auth/device/login",
        lambda n, me, o: {"device_id": me.device},
    ),
    read("/api/v1/users/me"),
    read("/api/v1/users/{other}"),
    Call(
        "PATCH /api/v1/users/me",
        "PATCH",
        "/api/v1/users/me",
        lambda n, me, o: {"display_name": f"Pilot {n}"},
    ),
    Call(
        "PUT /api/v1/users/me/friends/{other}",
        "PUT",
        "/api/v1/users/me/friends/{other}",
        lambda n, me, o: {},
    ),
    read("/api/v1/commerce/skus"),
    read("/api/v1/commerce/wallet"),
    read("/api/v1/commerce/orders"),
    Call(
        "GET /api/v1/commerce/wallet/ledger",
        "GET",
        "/api/v1/commerce/wallet/ledger?sku_id=cpu-coins",
    ),
    Call(
        "POST /api/v1/commerce/wallet/spend",
        "POST",
        "/api/v1/commerce/wallet/spend",
        lambda n, me, o: {"sku_id": "cpu-coins", "quantity": 1, "reason": "cpu"},
    ),
    read("/api/v1/leaderboards/seasons?active=true"),
    Call(
        "POST /api/v1/leaderboards/{season}/scores",
        "POST",
        "/api/v1/leaderboards/{season}/scores",
        lambda n, me, o: {"score": n},
    ),
    read("/api/v1/leaderboards/{season}?limit=100"),
    read("/api/v1/leaderboards/{season}/around-me"),
    read("/api/v1/leaderboards/{season}/me"),
    read("/api/v1/ugc?sort=newest&limit=20"),
    read("/api/v1/ugc/hot?limit=20"),
    read("/api/v1/ugc/{item}"),
    Call(
        "PUT /api/v1/ugc/{item}/rating",
        "PUT",
        "/api/v1/ugc/{item}/rating",
        lambda n, me, o: {"value": 4},
    ),
    read("/api/v1/admin/users?q=cpu", admin=True),
    read("/api/v1/admin/audit-logs?limit=50", admin=True),
    read("/api/v1/admin/skus", admin=True),
    read("/api/v1/inbox"),
    read("/api/v1/users/me/notification-preferences"),
    read("/api/v1/config"),
    read("/api/v1/users/me/sanctions"),
    read("/api/v1/reports"),
    read("/api/v1/drops"),
    # As bench/messaging.py claims: without an Idempotency-Key (the claim is keyed by its
    # message anyway).
    Call(
        "POST /api/v1/inbox/{message}/claim",
        "POST",
        "/api/v1/inbox/{message}/claim",
        idempotent=False,
    ),
]


async def measure(
    client: Client,
    world: World,
    call: Call,
    requests: int,
    profile: int,
    callers: list[str],
    dump: str | None = None,
) -> tuple[float, str]:
    counter = itertools.count(1)
    players = world.players

    async def one() -> None:
        n = next(counter)
        # Player 0 created the items (and may not rate them): the calls are the others'.
        me = players[1 + n % (len(players) - 1)]
        other = players[1 + (n * 7 + 3) % (len(players) - 1)]
        if other is me:
            other = players[1 + (n + 1) % (len(players) - 1)]
        if "{message}" in call.path:
            # Each claim takes a gift of its player's not claimed yet.
            path = call.path.replace("{message}", world.gifts[me.canonical_id].pop())
        else:
            path = call.path
        path = (
            path.replace("{season}", world.season)
            .replace("{item}", world.items[n % len(world.items)])
            .replace("{other}", other.canonical_id)
        )
        if call.new_device:
            body: Any = {"device_id": f"cpu-new-{secrets.token_hex(8)}"}
            token = None
        else:
            body = call.body(n, me, other) if call.body else None
            token = world.admin if call.admin else me.token
        status, raw = await client.call(call.method, path, body, token, call.idempotent)
        if status >= 300:
            raise RuntimeError(f"{call.name} answered {status}: {raw[:300]!r}")

    for _ in range(min(len(players) + 10, requests)):  # every player's caches warm
        await one()
    profiler = cProfile.Profile(time.process_time) if profile else None
    started = time.process_time()
    if profiler:
        profiler.enable()
    for _ in range(requests):
        await one()
    if profiler:
        profiler.disable()
    spent = time.process_time() - started
    report = ""
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(profile)
        stats.sort_stats("cumulative").print_stats(profile)
        for pattern in callers:
            stats.print_callers(pattern)
        report = out.getvalue()
        if dump:
            stats.dump_stats(dump)
    return 1000 * spent / requests, report


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--fast-dispatch", default="true", choices=("true", "false"))
    parser.add_argument("--only", action="append", help="a call's name (repeatable)")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    parser.add_argument(
        "--callers",
        action="append",
        default=[],
        help="with --profile: who calls functions matching this",
    )
    parser.add_argument(
        "--dump", help="with --profile: write each call's statistics to DUMP-<n>.pstats"
    )
    args = parser.parse_args()
    run = secrets.token_hex(4)
    database = f"pp_cpu_{run}"
    admin = await asyncpg.connect(f"postgresql://{PG}/postgres")
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql+asyncpg://{PG}/{database}?ssl=disable"
    try:
        await migrate.upgrade_async(url)
        settings = Settings(
            database_url=url,
            redis_url=REDIS_URL,
            redis_prefix=f"ppcpu:{run}:",
            access_log=False,
            log_level="warning",
            metrics_port=0,
            fast_dispatch=args.fast_dispatch == "true",
            bootstrap_admin_email=ADMIN_EMAIL,
            bootstrap_admin_password=ADMIN_PASSWORD,
            rate_limit_failed_login=UNLIMITED,
            rate_limit_auth=UNLIMITED,
            rate_limit_write=UNLIMITED,
            rate_limit_read=UNLIMITED,
            rate_limit_webhook=UNLIMITED,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            client = Client(app)
            world = await prepare(client, database)
            print(f"fast dispatch {args.fast_dispatch}, {args.requests} requests per call")
            for n, call in enumerate(CALLS):
                if args.only and call.name not in args.only:
                    continue
                dump = f"{args.dump}-{n}.pstats" if args.dump else None
                ms, report = await measure(
                    client, world, call, args.requests, args.profile, args.callers, dump
                )
                print(f"{ms:7.2f} ms  {call.name}", flush=True)
                if report:
                    print(report)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        forget_redis_keys(f"ppcpu:{run}:")
    return 0


if __name__ == "__main__":
    import uvloop  # as the server runs

    sys.exit(uvloop.run(main()))
