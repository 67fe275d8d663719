"""Where webhook intake spends its CPU: `.venv/bin/python bench/intake_profile.py [--seconds 10]`.

One API process (uvicorn, in this process) in the production shape (PostgreSQL, Redis,
RabbitMQ with the outbox relay, local object store) runs under cProfile with
`time.process_time` as its clock, so the figures are this process's CPU, not the wait for
PostgreSQL or for a machine shared with other work. wrk (2 threads, 32 connections) posts
signed `drop.entitlement.grant` notifications with fresh message ids, as `bench/drops.py`
does; no worker runs (intake never waits on processing). Prints the CPU per request and the
functions that take it, by own time and by cumulative time. Database, Redis keys, broker
queue and stored bodies of the run are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import sys
import time

import wrk
from _server import BenchServer, psql

import drops  # bench/drops.py: the signed messages and the server's settings

OBJECTS = wrk.ROOT / "var" / "bench-intakeprof-objects"
SERVER = BenchServer(
    "intakeprof",
    port=18087,
    env={
        **drops.SERVER.env,
        "PP_BROKER_PREFIX": "ppbench.intakeprof.",
        "PP_STORAGE_URL": f"file://{OBJECTS}",
    },
)


def main(seconds: int, top: int, out: str | None, profiling: bool) -> int:
    wrk.ensure_wrk()
    load = wrk.warn_if_busy()
    SERVER.reset()
    os.environ.update(SERVER.environment())
    import uvicorn
    import uvloop

    from playerplatform.kit.migrate import upgrade
    from playerplatform.kit.settings import Settings

    upgrade(Settings().database_url)
    config = uvicorn.Config(
        "playerplatform.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=SERVER.port,
        http="httptools",
        access_log=False,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    profile = cProfile.Profile(time.process_time)
    messages = drops.RESULTS / "intake-profile-messages.tsv"
    messages.parent.mkdir(parents=True, exist_ok=True)
    drops.signed_messages(messages, seconds * 5_000, "bench-benefit", ["1"])

    async def serve_under_load() -> tuple[wrk.WrkResult, float]:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.1)
        cpu_before = time.process_time()
        if profiling:
            profile.enable()  # in the server's own thread: the one cProfile measures
        try:
            done = await asyncio.to_thread(
                wrk.run_wrk,
                f"{SERVER.base}/api/v1/webhooks/twitch",
                script=wrk.LUA_DIR / "twitch_webhook.lua",
                script_args=[str(messages), str(wrk.THREADS)],
                duration_seconds=seconds,
            )
        finally:
            profile.disable()
            cpu = time.process_time() - cpu_before
            server.should_exit = True
            await serving
        return done, cpu

    try:
        done, cpu = uvloop.run(serve_under_load())
    finally:
        messages.unlink(missing_ok=True)
    try:
        stored = int(psql("SELECT count(*) FROM webhook_events", SERVER.database))
        print(f"load average before: {load}")
        print(
            f"{done.requests} requests, {done.requests_per_second:.1f} req/s, p50 "
            f"{done.p50_ms:.2f} ms, p99 {done.p99_ms:.2f} ms; {stored} events stored; "
            f"process CPU {cpu:.2f} s = {cpu / max(done.requests, 1) * 1000:.3f} ms per request"
        )
        if profiling:
            stats = pstats.Stats(profile)
            if out:
                stats.dump_stats(out)
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
    finally:
        SERVER.clean()
        drops.forget_broker_queue(SERVER.env["PP_BROKER_PREFIX"])
        shutil.rmtree(OBJECTS, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", help="also write the raw profile here (for pstats, snakeviz)")
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="only the CPU per request, without the profiler's own cost in it",
    )
    arguments = parser.parse_args()
    sys.exit(main(arguments.seconds, arguments.top, arguments.out, not arguments.no_profile))
