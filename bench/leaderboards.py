"""Leaderboards benchmark: `.venv/bin/python bench/leaderboards.py [--duration 15]`.

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18081 against a
fresh database, signs in 10,000 players who each post a score, then measures with wrk (2
threads, 32 connections): `GET /healthz`, score writes (a different player per request),
top-100 reads and around-me reads (radius 10: a page of 21, Nakama's "limit 20"). Then a
second board of 1,000,000 entries is loaded straight into Redis for around-me at that size
(wrk over HTTP, and the hot-store call alone, p50/p99) and Redis memory per entry; and
`redis-benchmark` measures plain ZADD throughput on the same Redis in the same run, with
our score-write rate as a ratio of it. Records the section in BENCHMARKS.md only at the
full duration (15 s); shorter runs check that everything works. The server, the database
and the run's Redis keys are removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import REDIS_URL, BenchServer

sys.path.insert(0, str(wrk.ROOT / "src"))

import httpx

from playerplatform.kit.hotstore.redis import RedisHotStore
from playerplatform.leaderboards.boards import Board, BoardEntry
from playerplatform.leaderboards.redis_boards import RedisBoards

TITLE = "Leaderboards"
ADMIN_EMAIL = "bench-admin@studio.test"
ADMIN_PASSWORD = secrets.token_urlsafe(18)
SERVER = BenchServer(
    "leaderboards",
    port=18081,
    env={"PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD},
)
BASE = SERVER.base
REDIS_PREFIX = SERVER.redis_prefix
PLAYERS = 10_000
BIG = 1_000_000
RADIUS = 10
ZADD_KEY = f"{REDIS_PREFIX}redis-benchmark-zset"

SETUP = """
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{database}`,
Redis 127.0.0.1:6379 under prefix `{prefix}`, jobs in-process, access log off, rate limits
raised out of the way). {players:,} players signed in and each posted one score before the
run. Score writes send a different player's token on every request (a season with operator
`best`, random scores; the scenario runs once unmeasured first, at the same load, so each
token's first use in each worker is behind it): token check, session state and rate limit from
the process's copies and rate-limit counters (kept coherent through Redis), the season's rules from the
process's copy, one Lua script on Redis; no database statement (the write-behind
job writes the entries in batches every 2 s). Top-100 and around-me (radius {radius}: 21
entries) are one Lua script each plus display names from the process's cache. All three are
hot routes: the gateway hands their requests straight to the route (`HotLane`), the route
search run once per season path. Run with `.venv/bin/python bench/leaderboards.py`.

Reference: Nakama 3.40 on this same machine, same load: 2,580-3,480 score
writes/s, 1,480-1,500 top-100 reads/s, 1,720-1,915 around-owner reads/s (limit 20).

At {big:,} entries (loaded straight into Redis; the caller's 20 neighbours are real players,
so the measured page has 21 named entries): {big_lines}
"""


async def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise wrk.BenchError(f"{what} answered {response.status_code}: {response.text[:300]}")
    return dict(response.json())


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST, once more after a dropped keep-alive connection (every set-up call is safe to
    repeat: same device id, same season id, `best` scores)."""
    for attempt in range(3):
        try:
            return await client.post(url, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def prepare(players: int) -> tuple[str, str, list[str]]:
    """A season with `players` entries and a second, empty one for the big board; returns
    (season, big season, tokens)."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=BASE, timeout=30, limits=limits) as client:
        admin = await _ok(
            await _post(
                client,
                "/api/v1/auth/email/login",
                json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            ),
            "admin login",
        )
        headers = {"Authorization": f"Bearer {admin['access_token']}"}
        season, big = f"bench-{secrets.token_hex(3)}", f"bench-big-{secrets.token_hex(3)}"
        for season_id in (season, big):
            await _ok(
                await _post(
                    client,
                    "/api/v1/admin/seasons",
                    json={"season_id": season_id, "name": "Bench"},
                    headers=headers,
                ),
                "season create",
            )
        gate = asyncio.Semaphore(32)

        async def player(n: int) -> str:
            async with gate:
                tokens = await _ok(
                    await _post(
                        client,
                        "/api/v1/auth/device/login",
                        json={"device_id": f"bench-lb-{season}-{n:07d}"},
                    ),
                    "device login",
                )
                token = str(tokens["access_token"])
                await _ok(
                    await _post(
                        client,
                        f"/api/v1/leaderboards/{season}/scores",
                        json={"score": random.randint(0, 1_000_000)},
                        headers={"Authorization": f"Bearer {token}"},
                    ),
                    "score",
                )
                return token

        started = time.monotonic()
        tokens = list(await asyncio.gather(*(player(n) for n in range(players))))
        print(f"bench: {players:,} players with entries in {time.monotonic() - started:.1f} s")
        return season, big, tokens


def _subject(token: str) -> str:
    """A token's `sub` (read, not verified: the bench minted it)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


async def load_big_board(
    season: str, size: int, me: str, neighbours: list[str]
) -> tuple[float, float, float]:
    """Fill the big season's board straight in Redis: the caller in the middle, real players
    (`neighbours`) on the ranks around it, so its page has a full 21 named entries like a
    real board's; synthetic members elsewhere. Returns (bytes per entry, around-me p50 ms,
    p99 ms) measured on the hot store itself."""
    hot = RedisHotStore.from_url(REDIS_URL, prefix=REDIS_PREFIX)
    boards = RedisBoards(hot)
    board = Board(season, True)
    try:
        before = _used_memory()
        started = time.monotonic()
        now = time.time_ns() // 1000
        chunk: list[BoardEntry] = []
        for n in range(size):
            offset = n - size // 2
            if offset == 0:
                member = me
            elif 0 < abs(offset) <= len(neighbours) // 2:
                member = neighbours[offset + len(neighbours) // 2 - (1 if offset > 0 else 0)]
            else:
                member = f"pbench{n:019d}"
            chunk.append(BoardEntry(member, float(size - n), now - size + n))
            if len(chunk) == 10_000:
                await boards.load(board, chunk)
                chunk = []
        await boards.load(board, chunk)
        await hot.set(board.loaded, "bench")
        per_entry = (_used_memory() - before) / size
        print(f"bench: {size:,} entries loaded in {time.monotonic() - started:.1f} s")
        samples = []
        rng = random.Random(5)
        for _ in range(5000):
            member = f"pbench{rng.randrange(size):019d}"
            t0 = time.perf_counter()
            await boards.around(board, member, RADIUS)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        return per_entry, samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    finally:
        await hot.close()


def _used_memory() -> int:
    info = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "INFO", "memory"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"^used_memory:(\d+)", info, re.MULTILINE)
    return int(found.group(1)) if found else 0


def redis_benchmark_zadd(requests: int) -> float:
    """Plain ZADD ops/s on the same Redis, 32 clients like wrk, random members."""
    done = subprocess.run(
        [
            *(
                "redis-benchmark",
                "-h",
                "127.0.0.1",
                "-c",
                str(wrk.CONNECTIONS),
                "-n",
                str(requests),
            ),
            *("-r", "1000000", "-q", "ZADD", ZADD_KEY, "__rand_int__", "member:__rand_int__"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "UNLINK", ZADD_KEY], check=True, stdout=subprocess.DEVNULL
    )
    found = re.search(r"([\d.]+) requests per second", done)
    if found is None:
        raise wrk.BenchError(f"unreadable redis-benchmark output: {done!r}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    parser.add_argument("--players", type=int, default=PLAYERS)
    parser.add_argument("--big", type=int, default=BIG, help="entries of the large board")
    args = parser.parse_args()
    full = args.duration == wrk.DURATION_SECONDS and args.players == PLAYERS and args.big == BIG
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    SERVER.reset()
    try:
        with SERVER.running(), tempfile.TemporaryDirectory() as scratch:
            season, big, tokens = asyncio.run(prepare(args.players))
            token_file = Path(scratch) / "tokens.txt"
            token_file.write_text("\n".join(tokens) + "\n")
            me = {"Authorization": f"Bearer {tokens[len(tokens) // 2]}"}
            auth = [f"Authorization: Bearer {tokens[len(tokens) // 2]}"]
            d = args.duration
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=min(3, d))  # warm-up
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=d)
            baseline = healthz.result
            writes = wrk.run_scenario(
                "POST /leaderboards/{season}/scores",
                f"{BASE}/api/v1/leaderboards/{season}/scores",
                baseline=baseline,
                script=wrk.LUA_DIR / "leaderboard_scores.lua",
                script_args=[str(token_file), season],
                duration_seconds=d,
                warm_up=True,  # each of the 10,000 tokens' first use per worker: see SETUP
            )
            top = wrk.run_scenario(
                "GET /leaderboards/{season}?limit=100",
                f"{BASE}/api/v1/leaderboards/{season}?limit=100",
                baseline=baseline,
                duration_seconds=d,
            )
            around = wrk.run_scenario(
                f"GET /leaderboards/{{season}}/around-me?radius={RADIUS}",
                f"{BASE}/api/v1/leaderboards/{season}/around-me?radius={RADIUS}",
                baseline=baseline,
                headers=auth,
                duration_seconds=d,
            )
            whoami = httpx.get(f"{BASE}/api/v1/users/me", headers=me).json()["canonical_id"]
            neighbours = [_subject(t) for t in tokens[: 2 * RADIUS]]
            per_entry, hot_p50, hot_p99 = asyncio.run(
                load_big_board(big, args.big, whoami, neighbours)
            )
            page = httpx.get(
                f"{BASE}/api/v1/leaderboards/{big}/around-me?radius={RADIUS}", headers=me
            ).json()
            if len(page["items"]) != 2 * RADIUS + 1:
                raise wrk.BenchError(f"the big board's page has {len(page['items'])} entries")
            around_big = wrk.run_scenario(
                f"GET around-me?radius={RADIUS}, {args.big:,} entries",
                f"{BASE}/api/v1/leaderboards/{big}/around-me?radius={RADIUS}",
                baseline=baseline,
                headers=auth,
                duration_seconds=d,
            )
            alone = wrk.run_wrk(  # one connection: the service time, without queueing
                f"{BASE}/api/v1/leaderboards/{big}/around-me?radius={RADIUS}",
                headers=auth,
                duration_seconds=d,
                threads=1,
                connections=1,
            )
            zadd = redis_benchmark_zadd(200_000 if full else 20_000)
        share = writes.result.requests_per_second / zadd
        big_lines = (
            f"around-me over HTTP p99 {around_big.result.p99_ms:.2f} ms at 32 connections, "
            f"{alone.p99_ms:.2f} ms (p50 {alone.p50_ms:.2f} ms) at one connection "
            f"(target < 10 ms); "
            f"the hot-store call alone p50 {hot_p50:.2f} ms, p99 {hot_p99:.2f} ms; Redis memory "
            f"{per_entry:.0f} bytes per entry (sorted-set member + entry hash field). "
            f"`redis-benchmark` ZADD (32 clients, random members): {zadd:,.0f} ops/s; our "
            f"score writes are {share:.3f} of it."
        )
        print(f"bench: {big_lines}", flush=True)
        if full:
            wrk.record_section(
                TITLE,
                [healthz, writes, top, around, around_big],
                baseline=baseline,
                setup=SETUP.format(
                    database=SERVER.database,
                    prefix=REDIS_PREFIX,
                    players=args.players,
                    radius=RADIUS,
                    big=args.big,
                    big_lines=big_lines,
                ),
                load_at_start=load_at_start,
            )
        else:
            print("bench: short run, BENCHMARKS.md left alone", flush=True)
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
    return 0


if __name__ == "__main__":
    sys.exit(main())
