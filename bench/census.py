"""The census: every route a game or the console calls, under one load, against references
measured on the same machine in the same run. `make bench` runs it and it rewrites
BENCHMARKS.md whole. `.venv/bin/python bench/census.py [--duration 15] [--quick]
[--only CALL ...]`.

One production-shape server (`playerplatform serve --workers 2`, PostgreSQL + Redis) on a
fresh database with players, a catalog, wallets, a season, published UGC and full inboxes;
each scenario is wrk (2 threads, 32 connections, 15 s) as many different players
(bench/lua/census.lua). The
census runs twice on the same data, with the fast dispatch on and off (`PP_FAST_DISPATCH`),
then a few scenarios once more on each HTTP server the platform offers (`PP_SERVER`).

References, measured in the same run: `GET /healthz` (the whole stack, no work),
`GET /plain` of a plain FastAPI application on the same server with 2 workers (the framework
and server's ceiling), `redis-benchmark` GET and `pgbench -S` (what the machine's stores do
without us). Targets are ratios to `GET /api/v1/users/me` in the same run (see below), since
a loaded machine lowers every figure together.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import BenchServer, psql, seed_inbox_sql, stop

from ugc import seed

PLAYERS = 2_000
ITEMS = 2_000
MESSAGES_PER_PLAYER = 50  # in each inbox, every other one a gift (as bench/messaging.py)
ADMIN_EMAIL = "census-admin@localhost.test"
ADMIN_PASSWORD = "census-staple-horse-" + secrets.token_hex(6)
PLAIN_PORT = 18101
SERVER = BenchServer(
    "census",
    port=18100,
    env={
        "PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PP_ACCESS_TOKEN_TTL": "14400",  # the whole census on one set of tokens
        "PP_STORAGE_URL": f"file://{wrk.ROOT / 'var' / 'bench-census-objects'}",
    },
)
BASE = SERVER.base
LUA = wrk.LUA_DIR / "census.lua"

# Nakama 3.40's figures beside ours on this machine class (both servers up, 2 API processes),
# as ratios to our own `GET /users/me` in that run (2,365 req/s): the census holds each
# counterpart to 1.5x of it.
NAKAMA = {
    "GET /api/v1/users/me": 2277 / 2365,
    "POST /api/v1/leaderboards/{season}/scores": 1544 / 2365,
    "GET /api/v1/leaderboards/{season}?limit=100": 698 / 2365,
    "GET /api/v1/leaderboards/{season}/around-me": 1052 / 2365,
    "POST /api/v1/auth/device/login (new device)": 922 / 2365,
    "POST /api/v1/auth/device/login (returning device)": 2227 / 2365,
    "GET /api/v1/users/{other}": 2076 / 2365,
    "PATCH /api/v1/users/me": 1330 / 2365,
    "GET /api/v1/users/me/friends": 2652 / 2365,
}
# The inbox list is held to Nakama's own-account read itself (not 1.5x of it).
AS_FAST_AS_NAKAMA = {"GET /api/v1/inbox?limit=50": NAKAMA["GET /api/v1/users/me"]}
READ_TARGET = 0.9  # every other authenticated read, of users/me
WRITE_TARGET = 0.6  # every other write, of users/me
SPEND_TARGET = (1000.0, 50.0)  # req/s, p99 ms


@dataclass(frozen=True)
class Call:
    group: str
    method: str
    path: str  # templates: {n}, {me}, {other}, {device}, {season}, {item}
    body: str = "-"
    who: str = "player"  # player, admin, nobody, new-device
    cached: bool = False  # a read served from caches a long-running server has filled

    @property
    def name(self) -> str:
        if self.who == "new-device":
            return "POST /api/v1/auth/device/login (new device)"
        if self.path == "/api/v1/auth/device/login":
            return "POST /api/v1/auth/device/login (returning device)"
        return f"{self.method} {self.path}"

    @property
    def write(self) -> bool:
        return self.method != "GET"


CENSUS = [
    Call("identity", "POST", "/api/v1/auth/device/login", who="new-device"),
    Call("identity", "POST", "/api/v1/auth/device/login", '{"device_id":"{device}"}'),
    Call("users", "GET", "/api/v1/users/me", cached=True),
    Call("users", "GET", "/api/v1/users/{other}", cached=True),
    Call("users", "PATCH", "/api/v1/users/me", '{"display_name":"Pilot {n}"}'),
    Call("users", "GET", "/api/v1/users/me/progression", cached=True),
    Call("users", "GET", "/api/v1/users/me/friends", cached=True),
    Call("users", "PUT", "/api/v1/users/me/friends/{other}", "{}"),
    Call("commerce", "GET", "/api/v1/commerce/skus", cached=True),
    Call("commerce", "GET", "/api/v1/commerce/wallet", cached=True),
    Call("commerce", "GET", "/api/v1/commerce/entitlements", cached=True),
    Call("commerce", "GET", "/api/v1/commerce/entitlements/check?sku_id=census-cape", cached=True),
    Call("commerce", "GET", "/api/v1/commerce/orders", cached=True),
    Call("commerce", "GET", "/api/v1/commerce/wallet/ledger?sku_id=census-coins", cached=True),
    Call(
        "commerce",
        "POST",
        "/api/v1/commerce/wallet/spend",
        '{"sku_id":"census-coins","quantity":1,"reason":"census"}',
    ),
    Call("leaderboards", "GET", "/api/v1/leaderboards/seasons?active=true", cached=True),
    Call("leaderboards", "POST", "/api/v1/leaderboards/{season}/scores", '{"score":{n}}'),
    Call("leaderboards", "GET", "/api/v1/leaderboards/{season}?limit=100"),
    Call("leaderboards", "GET", "/api/v1/leaderboards/{season}/around-me"),
    Call("leaderboards", "GET", "/api/v1/leaderboards/{season}/me"),
    Call("ugc", "GET", "/api/v1/ugc?sort=newest&limit=20", cached=True),
    Call("ugc", "GET", "/api/v1/ugc/hot?limit=20", cached=True),
    Call("ugc", "GET", "/api/v1/ugc/{item}", cached=True),
    Call("ugc", "PUT", "/api/v1/ugc/{item}/rating", '{"value":4}'),
    Call("messaging", "GET", "/api/v1/inbox?limit=50", cached=True),
    Call("messaging", "GET", "/api/v1/users/me/notification-preferences", cached=True),
    Call("messaging", "POST", "/api/v1/inbox/read-all"),
    Call("config", "GET", "/api/v1/config", cached=True),
    Call("safety", "GET", "/api/v1/users/me/sanctions", cached=True),
    Call("safety", "GET", "/api/v1/reports", cached=True),
    Call("safety", "POST", "/api/v1/feedback", '{"category":"bug","message":"Census {n}"}'),
    Call("drops", "GET", "/api/v1/drops", cached=True),
    Call("console", "GET", "/api/v1/admin/users?q=census", who="admin"),
    Call("console", "GET", "/api/v1/admin/audit-logs?limit=50", who="admin"),
    Call("console", "GET", "/api/v1/admin/skus", who="admin"),
    Call("console", "GET", "/api/v1/admin/broadcasts", who="admin"),
    Call("console", "GET", "/api/v1/admin/campaigns", who="admin"),
    Call("console", "GET", "/api/v1/admin/webhook-events", who="admin"),
    Call("console", "GET", "/api/v1/moderation/queue", who="admin"),
]
SERVERS_SUBSET = (
    "GET /api/v1/users/me",
    "GET /api/v1/commerce/skus",
    "POST /api/v1/commerce/wallet/spend",
    "POST /api/v1/leaderboards/{season}/scores",
)


def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if method != "GET":
        headers["Idempotency-Key"] = secrets.token_hex(8)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {path} answered {failure.code}: {failure.read()!r}")
    return json.loads(text) if text else None


@dataclass(frozen=True)
class World:
    players: Path  # "<token> <canonical id> <device id>" per line
    admin: Path  # the same, one line, for the staff account
    season: str
    item: str


def prepare(scratch: Path) -> World:
    """Players with coins and a cape each other one, a season with their scores, published
    UGC, friendships: what a game's calls find in a live install."""
    admin = call(
        "POST", "/api/v1/auth/email/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    staff = admin["access_token"]
    call(
        "POST",
        "/api/v1/admin/skus",
        {"sku_id": "census-coins", "type": "consumable", "name": "Coins", "quantity": 1},
        staff,
    )
    call(
        "POST",
        "/api/v1/admin/skus",
        {"sku_id": "census-cape", "type": "durable", "name": "Cape"},
        staff,
    )
    season = f"census-{secrets.token_hex(3)}"
    call("POST", "/api/v1/admin/seasons", {"season_id": season, "name": "Census"}, staff)
    run = secrets.token_hex(4)

    def player(n: int) -> str:
        device = f"census-{run}-{n:06d}"
        login = call("POST", "/api/v1/auth/device/login", {"device_id": device})
        user = login["user"]["canonical_id"]
        grants = f"/api/v1/admin/users/{user}/grants"
        call(
            "POST",
            grants,
            {"sku_id": "census-coins", "quantity": 1000, "reason": "census"},
            staff,
        )
        if n % 2 == 0:
            call("POST", grants, {"sku_id": "census-cape", "reason": "census"}, staff)
        call("POST", f"/api/v1/leaderboards/{season}/scores", {"score": n}, login["access_token"])
        return f"{login['access_token']} {user} {device}"

    with ThreadPoolExecutor(max_workers=16) as pool:
        lines = list(pool.map(player, range(PLAYERS)))
    players = scratch / "players.txt"
    players.write_text("\n".join(lines) + "\n")
    staff_line = scratch / "admin.txt"
    staff_line.write_text(f"{staff} {admin['user']['canonical_id']} -\n")
    # The items are the staff account's: a census player rating an item of their own would
    # be refused (403, creators cannot rate their own), and a census run tolerates no refusal.
    creator = admin["user"]["canonical_id"]
    items = seed(ITEMS, creator, database=SERVER.database, ids_file=scratch / "items.txt")
    item = items.read_text().split()[0]
    psql(seed_inbox_sql("census-coins", MESSAGES_PER_PLAYER), SERVER.database)
    return World(players, staff_line, season, item)


def census_run(
    world: World, calls: Sequence[Call], duration: int, baseline: wrk.WrkResult
) -> dict[str, wrk.WrkResult]:
    results: dict[str, wrk.WrkResult] = {}
    for entry in calls:
        if entry.who == "new-device":
            scenario = wrk.run_scenario(
                entry.name,
                BASE + entry.path,
                baseline=baseline,
                script=wrk.LUA_DIR / "device_login.lua",
                script_args=[f"census-new-{secrets.token_hex(6)}"],
                duration_seconds=duration,
            )
        else:
            path = entry.path.replace("{season}", world.season).replace("{item}", world.item)
            body = entry.body
            players = world.admin if entry.who == "admin" else world.players
            scenario = wrk.run_scenario(
                entry.name,
                BASE + path.split("?")[0],
                baseline=baseline,
                script=LUA,
                script_args=[str(players), entry.method, path, body, f"c{secrets.token_hex(5)}"],
                duration_seconds=duration,
                warm_up=entry.cached,
            )
        results[entry.name] = scenario.result
    return results


# --- References -------------------------------------------------------------------------------


@contextmanager
def plain_framework(server: str) -> Iterator[str]:
    """A FastAPI app with one JSON route, on the same HTTP server with 2 workers."""
    python = str(wrk.ROOT / ".venv" / "bin" / "python")
    bench = str(wrk.ROOT / "bench")
    if server == "granian":
        command = [python, "-m", "granian", "--interface", "asgi", "--workers", "2"]
        command += ["--loop", "uvloop", "--no-ws", "--port", str(PLAIN_PORT)]
        command += ["--working-dir", bench, "--log-level", "warning", "plain:app"]
    else:
        command = [python, "-m", "uvicorn", "--workers", "2", "--loop", "uvloop"]
        command += ["--http", "httptools", "--port", str(PLAIN_PORT), "--no-access-log"]
        command += ["--app-dir", bench, "--log-level", "warning", "plain:app"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{PLAIN_PORT}/plain"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        stop(process)


def redis_benchmark() -> float:
    done = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-c",
            str(wrk.CONNECTIONS),
            "-n",
            "300000",
            "-t",
            "get",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"GET: ([\d.]+) requests per second", done)
    if found is None:
        raise wrk.BenchError(f"unreadable redis-benchmark output: {done!r}")
    return float(found.group(1))


def pgbench(duration: int) -> float:
    database = "pp_bench_pgbench"
    psql(f'DROP DATABASE IF EXISTS "{database}"')
    psql(f'CREATE DATABASE "{database}"')
    try:
        common = ["-h", "127.0.0.1", "-U", "postgres"]
        subprocess.run(
            ["pgbench", *common, "-i", "-q", "-s", "10", database], check=True, capture_output=True
        )
        done = subprocess.run(
            [
                "pgbench",
                *common,
                "-S",
                "-c",
                str(wrk.CONNECTIONS),
                "-j",
                str(wrk.THREADS),
                "-T",
                str(duration),
                database,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    found = re.search(r"tps = ([\d.]+)", done)
    if found is None:
        raise wrk.BenchError(f"unreadable pgbench output: {done!r}")
    return float(found.group(1))


# --- The report -------------------------------------------------------------------------------


def verdict(name: str, entry: Call | None, result: wrk.WrkResult, me: wrk.WrkResult) -> str:
    share = result.requests_per_second / me.requests_per_second
    if name in NAKAMA and name != "GET /api/v1/users/me":
        need = 1.5 * NAKAMA[name]
        return f"{share:.2f} (≥ {need:.2f}: {'met' if share >= need else 'MISSED'})"
    if name in AS_FAST_AS_NAKAMA:
        need = AS_FAST_AS_NAKAMA[name]
        return f"{share:.2f} (≥ {need:.2f}: {'met' if share >= need else 'MISSED'})"
    if name == "POST /api/v1/commerce/wallet/spend":
        ok = result.requests_per_second >= SPEND_TARGET[0] and result.p99_ms < SPEND_TARGET[1]
        return f"{share:.2f} (≥ 1,000/s, p99 < 50 ms: {'met' if ok else 'MISSED'})"
    if entry is None or entry.who == "admin" or name == "GET /api/v1/users/me":
        return f"{share:.2f}"
    need = WRITE_TARGET if entry.write else READ_TARGET
    return f"{share:.2f} (≥ {need:.1f}: {'met' if share >= need else 'MISSED'})"


def render(
    fast: dict[str, wrk.WrkResult],
    slow: dict[str, wrk.WrkResult],
    references: list[tuple[str, str]],
    servers: dict[str, dict[str, wrk.WrkResult]],
    duration: int,
    load_at_start: str,
) -> str:
    me_fast, me_slow = fast["GET /api/v1/users/me"], slow["GET /api/v1/users/me"]
    by_name = {entry.name: entry for entry in CENSUS}
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/census.py`), whole, on the machine described at the end.",
        f"wrk: {wrk.THREADS} threads, {wrk.CONNECTIONS} connections, {duration} s per scenario, "
        "against 127.0.0.1; p50/p99 are wrk's latency percentiles in ms. Every request of a "
        "scenario must be 2xx or the census fails instead of recording it.",
        "",
        "The server: `playerplatform serve --workers 2` in the production shape (PostgreSQL and "
        f"Redis over TCP, jobs in-process, access log off, rate limits out of the way), with "
        f"{PLAYERS:,} players (each with coins, every other one with a cape, all with a score in "
        f"one season, {MESSAGES_PER_PLAYER} inbox messages) and {ITEMS:,} published UGC items. "
        "Each request is a different player's "
        "(`bench/lua/census.lua`). Reads marked cached ran once unmeasured first, as a "
        "long-running server has its caches filled.",
        "",
        "Targets, as ratios to `GET /api/v1/users/me` in the same run: a call with a Nakama 3.40 "
        "counterpart at least 1.5x Nakama's figure for it (Nakama's own-account read was 0.96x "
        "of ours when both ran on this machine class); every other read a game makes at least "
        "0.9x; the inbox list at least Nakama's own-account read (0.96x); every other write at "
        "least 0.6x; wallet spend at least 1,000/s with p99 under 50 ms. Console calls are "
        "listed without a target.",
        "",
        "## Census",
        "",
        "| group | call | req/s | p50 | p99 | of users/me: target | req/s, fast dispatch off | p99 | of users/me: target |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for name, result in fast.items():
        entry = by_name.get(name)
        other = slow.get(name)
        group = entry.group if entry else "reference"
        row = (
            f"| {group} | `{name}` | {result.requests_per_second:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {verdict(name, entry, result, me_fast)} |"
        )
        if other is not None:
            row += (
                f" {other.requests_per_second:,.0f} | {other.p99_ms:.2f} | "
                f"{verdict(name, entry, other, me_slow)} |"
            )
        else:
            row += " | | |"
        lines.append(row)
    lines += ["", "## References", "", "| reference | figure |", "|---|---:|"]
    lines += [f"| {name} | {figure} |" for name, figure in references]
    lines += [
        "",
        "## Servers",
        "",
        "The same calls on each HTTP server `playerplatform serve` offers (`PP_SERVER`), fast "
        "dispatch on, one after the other on the same data. The default is the faster one.",
        "",
        "| call | " + " | ".join(f"{s} req/s | p99" for s in servers) + " |",
        "|---|" + "---:|---:|" * len(servers),
    ]
    for name in SERVERS_SUBSET:
        cells = " | ".join(
            f"{servers[s][name].requests_per_second:,.0f} | {servers[s][name].p99_ms:.2f}"
            for s in servers
        )
        lines.append(f"| `{name}` | {cells} |")
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in wrk.machine_description(load_at_start)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, nothing recorded")
    parser.add_argument(
        "--only",
        action="append",
        metavar="CALL",
        help='only this call (repeatable), e.g. "POST /api/v1/commerce/wallet/spend", beside'
        " `GET /api/v1/users/me`, fast dispatch on; printed, nothing recorded",
    )
    args = parser.parse_args()
    duration = 3 if args.quick else args.duration
    if args.only:
        return _only(args.only, duration)
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    SERVER.reset()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            with SERVER.running():
                print(f"bench: preparing {PLAYERS:,} players and {ITEMS:,} items", flush=True)
                world = prepare(Path(scratch))
                wrk.run_wrk(f"{BASE}/healthz", duration_seconds=3)
                healthz = wrk.run_scenario(
                    "GET /healthz", f"{BASE}/healthz", duration_seconds=duration
                )
                fast = {"GET /healthz": healthz.result}
                fast |= census_run(world, CENSUS, duration, healthz.result)
            servers: dict[str, dict[str, wrk.WrkResult]] = {"granian": fast}
            subset = [entry for entry in CENSUS if entry.name in SERVERS_SUBSET]
            off = dataclasses.replace(SERVER, env={**SERVER.env, "PP_FAST_DISPATCH": "false"})
            with off.running():
                print("bench: the census again, fast dispatch off", flush=True)
                healthz = wrk.run_scenario(
                    "GET /healthz", f"{BASE}/healthz", duration_seconds=duration
                )
                slow = {"GET /healthz": healthz.result}
                slow |= census_run(world, CENSUS, duration, healthz.result)
            other = dataclasses.replace(SERVER, env={**SERVER.env, "PP_SERVER": "uvicorn"})
            with other.running():
                print("bench: some calls on uvicorn", flush=True)
                servers["uvicorn"] = census_run(world, subset, duration, healthz.result)
            references = [
                (
                    "`GET /healthz` (the platform, no work)",
                    f"{fast['GET /healthz'].requests_per_second:,.0f} req/s",
                ),
            ]
            for server in ("granian", "uvicorn"):
                with plain_framework(server) as url:
                    plain = wrk.run_scenario(
                        f"GET /plain ({server})", url, duration_seconds=duration
                    )
                references.append(
                    (
                        f"plain FastAPI `GET /plain` on {server}, 2 workers",
                        f"{plain.result.requests_per_second:,.0f} req/s",
                    )
                )
            references.append(("`redis-benchmark -t get -c 32`", f"{redis_benchmark():,.0f} ops/s"))
            references.append(
                ("`pgbench -S -c 32 -j 2` (scale 10)", f"{pgbench(duration):,.0f} tps")
            )
        document = render(fast, slow, references, servers, duration, load_at_start)
        if args.quick:
            print(document)
        else:
            wrk.BENCHMARKS_MD.write_text(document)
            print(f"bench: wrote {wrk.BENCHMARKS_MD.relative_to(wrk.ROOT)}", flush=True)
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
    return 0


def _only(names: list[str], duration: int) -> int:
    """A few calls and the proxy they are held to, for working on them; nothing recorded."""
    unknown = set(names) - {entry.name for entry in CENSUS}
    if unknown:
        print(f"bench: no such call: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    calls = [e for e in CENSUS if e.name in names or e.name == "GET /api/v1/users/me"]
    wrk.ensure_wrk()
    wrk.warn_if_busy()
    SERVER.reset()
    try:
        with tempfile.TemporaryDirectory() as scratch, SERVER.running():
            world = prepare(Path(scratch))
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=3)
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=duration)
            census_run(world, calls, duration, healthz.result)
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
    return 0


if __name__ == "__main__":
    sys.exit(main())
