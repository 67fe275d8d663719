"""Messaging benchmark: `.venv/bin/python bench/messaging.py [--duration 15] [--sockets 5000]
[--broadcast-players 1000000]`.

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18086 against a
fresh database. Creates players with 50 inbox messages each and measures, under wrk (2
threads, 32 connections): `GET /healthz`, `GET /users/me`, `GET /inbox?limit=50` and
`POST /inbox/{id}/claim` (each request a different message, one consumable attached). Then
opens `--sockets` realtime sockets, sends one broadcast to everyone and reports when each
socket received its frame (p50/p99) and the workers' memory per idle socket. Last, adds
players up to `--broadcast-players` in one SQL statement and reports the time and the rows
written by one broadcast to all of them. Prints the results; the lead records them in
BENCHMARKS.md from a quiet machine. Server, database and Redis keys are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import wrk
from _server import BenchServer, psql, seed_inbox_sql

ADMIN_EMAIL = "bench-admin@localhost.test"
ADMIN_PASSWORD = "correct-horse-staple-bench-messaging"
SERVER = BenchServer(
    "messaging",
    port=18086,
    env={
        "PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PP_REALTIME_MAX_SOCKETS_PER_PLAYER": "100000",
        # No metrics listener: another bench server on the machine may hold its port.
        "PP_METRICS_PORT": "0",
    },
)
BASE = SERVER.base
LUA = wrk.ROOT / "bench" / "lua" / "messaging.lua"
MESSAGES_PER_PLAYER = 50
IDLE_SECONDS = 10


def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {path} answered {failure.code}: {failure.read()!r}")


def sql(statement: str) -> str:
    return psql(statement, SERVER.database)


def prepare(players: int, workdir: Path) -> tuple[str, Path, Path]:
    """Players with 50 messages each (one claimable per player and run second), written
    in SQL: the API would take longer to fill than to measure. Returns the admin token and
    the token and claim files."""
    admin = call(
        "POST", "/api/v1/auth/email/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )["access_token"]
    coins = {"sku_id": "bench-coins", "type": "consumable", "name": "Coins", "quantity": 10}
    call("POST", "/api/v1/admin/skus", coins, admin)

    def player(n: int) -> str:
        login = call("POST", "/api/v1/auth/device/login", {"device_id": f"bench-msg-{n:06d}"})
        return str(login["access_token"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        tokens = list(pool.map(player, range(players)))
    sql(seed_inbox_sql("bench-coins", MESSAGES_PER_PLAYER))
    sql("VACUUM ANALYZE")
    tokens_file = workdir / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    by_user = {}
    for token in tokens:
        me = call("GET", "/api/v1/users/me", token=token)
        by_user[me["canonical_id"]] = token
    rows = sql(
        "SELECT u.canonical_id || ' ' || m.message_id FROM inbox_messages m JOIN users u"
        " ON u.id = m.user_id WHERE m.kind = 'gift' ORDER BY m.created_at DESC, m.message_id"
    ).splitlines()
    claims = workdir / "claims.txt"
    claims.write_text(
        "".join(f"{by_user[c]} {m}\n" for c, m in (r.split() for r in rows) if c in by_user)
    )
    return admin, tokens_file, claims


def http_scenarios(duration: int, tokens: Path, claims: Path) -> list[str]:
    lines = []
    health = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=duration)
    me = wrk.run_scenario(
        "GET /users/me",
        f"{BASE}/api/v1/users/me",
        baseline=health.result,
        headers=[f"Authorization: Bearer {tokens.read_text().split()[0]}"],
        duration_seconds=duration,
    )
    inbox = wrk.run_scenario(
        "GET /inbox?limit=50 (50 messages per player)",
        f"{BASE}/api/v1/inbox",
        baseline=me.result,
        script=LUA,
        script_args=["list", str(tokens)],
        duration_seconds=duration,
        warm_up=True,
    )
    claim = wrk.run_scenario(
        "POST /inbox/{id}/claim (a different message each)",
        f"{BASE}/api/v1/inbox",
        baseline=health.result,
        script=LUA,
        script_args=["claim", str(claims), str(wrk.THREADS)],
        duration_seconds=duration,
    )
    for scenario in (health, me, inbox, claim):
        lines.append(wrk.result_line(scenario.name, scenario.result, health.result))
    return lines


def _server_processes() -> list[list[str]]:
    """`ps` rows (pid, pgid, rss, args) of the server and its workers (its process group)."""
    out = subprocess.run(["ps", "-eo", "pid,pgid,rss,args"], capture_output=True, text=True).stdout
    rows = [line.split(None, 3) for line in out.splitlines()[1:]]
    leader = f"--port {SERVER.port}"
    groups = {r[1] for r in rows if len(r) == 4 and "serve" in r[3] and leader in r[3]}
    return [r for r in rows if len(r) == 4 and r[1] in groups]


def workers_rss_kib() -> int:
    """Resident memory of the server and its workers, in KiB."""
    return sum(int(r[2]) for r in _server_processes())


def workers_cpu_seconds() -> float:
    """CPU time (user + system) the server and its workers have used so far."""
    total = 0
    for row in _server_processes():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


CLIENT_PROCESSES = 4  # the sockets' client side, spread so it does not set the latency
CLIENT_WAIT_SECONDS = 120.0


def hold_sockets(url: str, tokens: list[str], count: int, ready: Any, out: Any) -> None:
    """One client process: open `count` sockets, answer the server's pings, and report
    when each received the broadcast frame (wall clock, comparable across processes)."""
    asyncio.run(_hold_sockets(url, tokens, count, ready, out))


async def _hold_sockets(url: str, tokens: list[str], count: int, ready: Any, out: Any) -> None:
    from websockets.asyncio.client import connect

    received: list[float] = []
    everyone = asyncio.Event()

    async def read(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "ping":
                    await ws.send('{"type": "pong"}')
                elif frame["type"] == "broadcast":
                    received.append(time.time())
                    if len(received) == count:
                        everyone.set()

    sockets, readers = [], []
    for i in range(count):
        ws = await connect(url, subprotocols=["bearer", tokens[i % len(tokens)]], open_timeout=60)  # type: ignore[list-item]
        sockets.append(ws)
        readers.append(asyncio.create_task(read(ws)))
    ready.put(count)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLIENT_WAIT_SECONDS):
            await everyone.wait()
    out.put(received)
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()


def sockets_scenario(count: int, tokens: list[str], admin: str) -> list[str]:
    url = BASE.replace("http://", "ws://") + "/api/v1/realtime"
    before = workers_rss_kib()
    context = multiprocessing.get_context("spawn")
    ready, out = context.Queue(), context.Queue()
    shares = [
        count // CLIENT_PROCESSES + (n < count % CLIENT_PROCESSES) for n in range(CLIENT_PROCESSES)
    ]
    clients = [
        context.Process(
            target=hold_sockets, args=(url, tokens[n::CLIENT_PROCESSES], share, ready, out)
        )
        for n, share in enumerate(shares)
    ]
    opening = time.perf_counter()
    for client in clients:
        client.start()
    opened = sum(ready.get(timeout=600) for _ in clients)
    opening = time.perf_counter() - opening
    time.sleep(2)
    after = workers_rss_kib()
    # What holding them costs while nothing happens: keepalive pings and session checks.
    cpu_before, idle_started = workers_cpu_seconds(), time.perf_counter()
    time.sleep(IDLE_SECONDS)
    idle_cpu = (workers_cpu_seconds() - cpu_before) / (time.perf_counter() - idle_started)
    started = time.time()
    call(
        "POST",
        "/api/v1/admin/broadcasts",
        {"kind": "system", "title": "Bench", "body": "To everyone"},
        admin,
    )
    received: list[float] = []
    for _ in clients:
        received += out.get(timeout=CLIENT_WAIT_SECONDS + 60)
    for client in clients:
        client.join(timeout=60)
    latencies = sorted(t - started for t in received)
    if not latencies:
        return [f"realtime: {opened} sockets, no broadcast frame arrived"]
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    per_socket = (after - before) / max(1, opened)
    return [
        f"realtime: {opened} sockets opened in {opening:.0f} s by {CLIENT_PROCESSES} client"
        f" processes, {len(latencies)} got the broadcast; p50 {p50 * 1000:.0f} ms,"
        f" p99 {p99 * 1000:.0f} ms (from the POST); {per_socket:.1f} KiB per idle socket"
        f" (server RSS); idle, the server used {idle_cpu * 100:.0f}% of a core over"
        f" {IDLE_SECONDS} s"
    ]


def million_broadcast(players: int, admin: str, player_token: str) -> list[str]:
    """Players up to `players` (one SQL statement), then one broadcast to everyone: its time
    and the rows it wrote; then one player's first inbox read, which takes it in, and the
    next."""
    existing = int(sql("SELECT count(*) FROM users"))
    if players > existing:
        filled = time.perf_counter()
        sql(
            f"""INSERT INTO users (id, canonical_id, status, roles, email_verified, created_at,
            updated_at)
            SELECT gen_random_uuid(), 'b' || lpad(n::text, 12, '0'), 'active', '["player"]',
            false, now(), now() FROM generate_series(1, {players - existing}) n"""
        )
        print(f"({players - existing:,} players added in {time.perf_counter() - filled:.0f} s)")
        sql("VACUUM ANALYZE users")
    rows_before = int(sql("SELECT count(*) FROM inbox_messages")) + int(
        sql("SELECT count(*) FROM broadcasts")
    )
    started = time.perf_counter()
    call("POST", "/api/v1/admin/broadcasts", {"kind": "system", "title": "All", "body": "x"}, admin)
    took = time.perf_counter() - started
    rows_after = int(sql("SELECT count(*) FROM inbox_messages")) + int(
        sql("SELECT count(*) FROM broadcasts")
    )
    total = int(sql("SELECT count(*) FROM users"))
    reads = []
    for _ in range(2):
        started = time.perf_counter()
        call("GET", "/api/v1/inbox?limit=50", token=player_token)
        reads.append((time.perf_counter() - started) * 1000)
    return [
        f"broadcast to {total:,} players: {took * 1000:.0f} ms,"
        f" {rows_after - rows_before} row(s) written at send (+1 audit row);"
        f" a player's next inbox read {reads[0]:.0f} ms (takes it in: 1 row), then {reads[1]:.0f} ms"
    ]


def raise_open_files_limit(sockets: int) -> None:
    """Each socket is a descriptor here and one in the server (which inherits this limit):
    raise the soft limit to the hard one, and say so when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 1024
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, max(wanted, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < wanted:
        raise wrk.BenchError(f"{sockets} sockets need {wanted} open files; the limit is {soft}")


SCENARIOS = ("http", "sockets", "broadcast")


def main(duration: int, players: int, sockets: int, broadcast_players: int, only: set[str]) -> int:
    if "sockets" in only:
        raise_open_files_limit(sockets)
    SERVER.reset()
    lines: list[str] = [f"load average at start: {wrk.load_average()}"]
    try:
        with SERVER.running(), tempfile.TemporaryDirectory() as tmp:
            admin, tokens, claims = prepare(players, Path(tmp))
            if "http" in only:
                lines += http_scenarios(duration, tokens, claims)
            if "sockets" in only:
                lines += sockets_scenario(sockets, tokens.read_text().split(), admin)
            if "broadcast" in only:
                first = tokens.read_text().split()[0]
                lines += million_broadcast(broadcast_players, admin, first)
    finally:
        SERVER.clean()
    lines.append(f"load average at end: {wrk.load_average()}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    parser.add_argument("--players", type=int, default=2000)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--broadcast-players", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios to run, of {', '.join(SCENARIOS)} (default: all)",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if not only <= set(SCENARIOS):
        parser.error(f"--only takes {', '.join(SCENARIOS)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main(args.duration, args.players, args.sockets, args.broadcast_players, only))
