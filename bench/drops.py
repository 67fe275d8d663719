"""Webhook intake benchmark: `.venv/bin/python bench/drops.py [--duration 15]`.

Serves the production shape (PostgreSQL + Redis + RabbitMQ: `playerplatform serve --workers 2`
with the broker relay, plus one `playerplatform worker` on `webhook_processing`) on
127.0.0.1:18088 against a fresh database, with the Twitch emulator on 127.0.0.1:18098 (Helix
fulfilment). One active campaign, 100 players with linked Twitch accounts. wrk posts signed
`drop.entitlement.grant` notifications, each a fresh message id holding one new entitlement
of one of those players. Then it waits for the queue to drain and reads, from the database,
the time from intake (the event row's `received_at`) to the grant (the drop's `granted_at`).
It prints the results and records them in BENCHMARKS.md when run with the full duration
(15 s). Server, worker, emulator, database, Redis keys and broker queues of the run are
removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import BenchServer, psql, stop

TITLE = "Webhook intake and drops"
RESULTS = wrk.ROOT / "bench" / "results"
TWITCH_PORT = 18098
TWITCH_URL = f"http://127.0.0.1:{TWITCH_PORT}"
CLIENT_ID, CLIENT_SECRET = "bench-twitch-client", "bench-twitch-secret"
EVENTSUB_SECRET = "bench-eventsub-secret-" + secrets.token_hex(6)
ADMIN_EMAIL = "bench-admin@localhost.test"
ADMIN_PASSWORD = "correct-horse-staple-" + secrets.token_hex(6)
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
PLAYERS = 100
OBJECTS = wrk.ROOT / "var" / "bench-drops-objects"
GAME_ID = "509658"
SERVER = BenchServer(
    "drops",
    port=18088,
    env={
        "PP_BROKER_URL": BROKER_URL,
        "PP_BROKER_PREFIX": "ppbench.drops.",
        "PP_TWITCH_CLIENT_ID": CLIENT_ID,
        "PP_TWITCH_CLIENT_SECRET": CLIENT_SECRET,
        "PP_TWITCH_ID_URL": TWITCH_URL,
        "PP_TWITCH_API_URL": TWITCH_URL,
        "PP_TWITCH_EVENTSUB_SECRET": EVENTSUB_SECRET,
        "PP_STORAGE_URL": f"file://{OBJECTS}",
        "PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PP_SCHEDULER_ENABLED": "false",
        "PP_METRICS_PORT": "0",  # no listener of its own: another server may hold the port
    },
)
BASE = SERVER.base

SETUP = """
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{database}` on
127.0.0.1:5432, Redis 127.0.0.1:6379 under prefix `{prefix}`, RabbitMQ on 127.0.0.1:5672 with
the outbox relay in the API processes, one `playerplatform worker --queues
webhook_processing`, local object store for the raw bodies, access log off, rate limits out of
the way) and `playerplatform emulate twitch`. One active campaign, {players} players with
linked Twitch accounts. Intake: `POST /api/v1/webhooks/twitch` with notifications signed
before the run (HMAC-SHA256 over message id, timestamp and body), each a fresh message id with
one new entitlement, never a redelivery; every request is checked, stored (raw body, row, and
the processing job it shares with the deliveries written in the same batch) and committed
before its 202. Intake to grant: from the event row's `received_at` to the drop's
`granted_at`, over the {events:,} events of the run, the worker draining the queue while the
load runs. Run with `.venv/bin/python bench/drops.py`. Target: at least
1,000 req/s with p99 under 50 ms.
"""


def call(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {url} answered {failure.code}: {failure.read()!r}")


@contextlib.contextmanager
def process(name: str, *args: str, env: dict[str, str] | None = None) -> Iterator[None]:
    log = RESULTS / f"drops-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        child = subprocess.Popen(
            [str(wrk.ROOT / ".venv" / "bin" / "playerplatform"), *args],
            cwd=wrk.ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            time.sleep(1.0)
            if child.poll() is not None:
                raise wrk.BenchError(f"{name} exited; see {log}")
            yield
        finally:
            stop(child)


def twitch_emulator() -> contextlib.AbstractContextManager[None]:
    return process(
        "twitch",
        "emulate", "twitch", "--port", str(TWITCH_PORT),
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
    )  # fmt: skip


def worker() -> contextlib.AbstractContextManager[None]:
    return process("worker", "worker", "--queues", "webhook_processing", env=SERVER.environment())


def prepare() -> tuple[str, list[str]]:
    """A SKU, an active campaign and linked players; returns (benefit id, twitch ids)."""
    admin = call(
        "POST",
        f"{BASE}/api/v1/auth/email/login",
        {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )["access_token"]
    sku = f"bench-gem-{secrets.token_hex(3)}"
    call(
        "POST",
        f"{BASE}/api/v1/admin/skus",
        {"sku_id": sku, "type": "consumable", "quantity": 1, "name": "Gem", "metadata": {}},
        admin,
    )
    now = dt.datetime.now(dt.UTC)
    benefit = "bench-benefit"
    call(
        "POST",
        f"{BASE}/api/v1/admin/campaigns",
        {
            "name": "Bench drops",
            "twitch_game_id": GAME_ID,
            "starts_at": (now - dt.timedelta(days=1)).isoformat(),
            "ends_at": (now + dt.timedelta(days=1)).isoformat(),
            "rewards": [{"benefit_id": benefit, "grants": [{"sku_id": sku, "quantity": 1}]}],
            "status": "active",
        },
        admin,
    )
    twitch_ids = []
    for n in range(PLAYERS):
        player = call(
            "POST", f"{BASE}/api/v1/auth/device/login", {"device_id": f"bench-drops-{uuid.uuid4()}"}
        )
        twitch_id = str(900_000_000 + n)
        code = call(
            "POST", f"{TWITCH_URL}/emulator/codes", {"user_id": twitch_id, "login": f"v{n}"}
        )
        call(
            "POST",
            f"{BASE}/api/v1/auth/links/twitch",
            {"code": code["code"], "redirect_uri": "http://localhost/cb"},
            player["access_token"],
        )
        twitch_ids.append(twitch_id)
    return benefit, twitch_ids


def signed_messages(path: Path, count: int, benefit: str, twitch_ids: list[str]) -> None:
    """`count` notifications with fresh message ids, signed now (valid for 10 minutes)."""
    secret = EVENTSUB_SECRET.encode()
    with path.open("w") as out:
        for n in range(count):
            message_id = str(uuid.uuid4())
            at = dt.datetime.now(dt.UTC)
            timestamp = at.strftime("%Y-%m-%dT%H:%M:%S") + f".{at.microsecond:06d}000Z"
            body = json.dumps(
                {
                    "subscription": {
                        "id": "bench",
                        "type": "drop.entitlement.grant",
                        "version": "1",
                    },
                    "events": [
                        {
                            "id": str(uuid.uuid4()),
                            "data": {
                                "organization_id": "org-1",
                                "category_id": GAME_ID,
                                "user_id": twitch_ids[n % len(twitch_ids)],
                                "entitlement_id": str(uuid.uuid4()),
                                "benefit_id": benefit,
                                "created_at": at.isoformat(),
                            },
                        }
                    ],
                },
                separators=(",", ":"),
            )
            digest = hmac.new(
                secret, message_id.encode() + timestamp.encode() + body.encode(), hashlib.sha256
            ).hexdigest()
            out.write(f"{message_id}\t{timestamp}\tsha256={digest}\t{body}\n")


def forget_broker_queue(prefix: str | None = None) -> None:
    """Delete the run's work queue (its delay queues expire by themselves)."""
    prefix = prefix or SERVER.env["PP_BROKER_PREFIX"]

    async def delete() -> None:
        import aio_pika

        connection = await aio_pika.connect(BROKER_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{prefix}webhook_processing")

    with contextlib.suppress(Exception):  # no queue (the run failed before): nothing to do
        asyncio.run(delete())


def drained(events: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = int(
            psql("SELECT count(*) FROM drops WHERE status <> 'pending_link'", SERVER.database)
        )
        if done >= events:
            return
        time.sleep(1.0)
    raise wrk.BenchError(f"only {done} of {events} events were processed in {timeout:.0f} s")


def intake_to_grant() -> wrk.WrkResult:
    out = psql(
        """
        SELECT count(*),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
            percentile_cont(0.99) WITHIN GROUP (ORDER BY ms),
            extract(epoch FROM max(granted_at) - min(received_at))
        FROM (
            SELECT d.granted_at, e.received_at,
                extract(epoch FROM d.granted_at - e.received_at) * 1000 AS ms
            FROM webhook_events e
            JOIN drops d ON d.entitlement_id = e.payload->'events'->0->'data'->>'entitlement_id'
        ) AS t
        """,
        SERVER.database,
    )
    count, p50, p99, span = out.split("|")
    return wrk.WrkResult(
        requests=int(count),
        requests_per_second=int(count) / max(float(span), 1e-9),
        p50_ms=float(p50),
        p99_ms=float(p99),
    )


def main(duration: int) -> int:
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    record = duration == wrk.DURATION_SECONDS
    SERVER.reset()
    messages = RESULTS / "drops-messages.tsv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        with twitch_emulator(), SERVER.running(), worker():
            benefit, twitch_ids = prepare()
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=min(3, duration))  # warm-up
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=duration)
            baseline = healthz.result
            count = max(10_000, duration * 8_000)
            signed_messages(messages, count, benefit, twitch_ids)
            intake = wrk.run_scenario(
                "POST /api/v1/webhooks/twitch (signed, fresh ids)",
                f"{BASE}/api/v1/webhooks/twitch",
                baseline=baseline,
                script=wrk.LUA_DIR / "twitch_webhook.lua",
                script_args=[str(messages), str(wrk.THREADS)],
                duration_seconds=duration,
            )
            if intake.result.requests > count:
                raise wrk.BenchError(
                    f"{intake.result.requests - count} requests were redeliveries, not fresh"
                    " message ids: sign more messages"
                )
            events = int(psql("SELECT count(*) FROM webhook_events", SERVER.database))
            # The worker drains what intake took in far faster than it processes it: the
            # wait grows with the backlog.
            drained(events, timeout=max(300.0, events / 5))
            latency = intake_to_grant()
            name = "intake -> grant (p50/p99 ms; req/s: grants per second)"
            print(wrk.result_line(name, latency, baseline), flush=True)
            scenarios = [healthz, intake, wrk.Scenario(name, latency)]
        setup = SETUP.format(
            database=SERVER.database, prefix=SERVER.redis_prefix, players=PLAYERS, events=events
        )
        if record:
            wrk.record_section(
                TITLE, scenarios, baseline=baseline, setup=setup, load_at_start=load_at_start
            )
        else:
            print(f"bench: {duration} s per scenario is not the full run; nothing recorded")
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
        forget_broker_queue()
        shutil.rmtree(OBJECTS, ignore_errors=True)
        messages.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    sys.exit(main(parser.parse_args().duration))
