"""UGC benchmark: `.venv/bin/python bench/ugc.py [--duration 15] [--items 10000]`.

Serves the production shape (PostgreSQL + Redis, two workers, clamd on 127.0.0.1:3310, local
object store) on 127.0.0.1:18086 against a fresh database seeded with published items,
measures `GET /healthz`, browsing newest (20 per page), the hot feed and the download redirect
with wrk, then the latency from draft to `pending_review` of 1 MB uploads scanned by clamd. It
prints the results and records them in BENCHMARKS.md when run with the full duration (15 s).
The server, the database, the Redis keys and the objects of the run are removed at the end,
also when it fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import BenchServer, psql

TITLE = "User-generated content"
RESULTS = wrk.ROOT / "bench" / "results"
OBJECTS = wrk.ROOT / "var" / "bench-ugc-objects"
CLAMD = ("127.0.0.1", 3310)
SERVER = BenchServer(
    "ugc",
    port=18086,
    env={
        "PP_STORAGE_URL": f"file://{OBJECTS}",
        "PP_CLAMD_ADDRESS": f"tcp://{CLAMD[0]}:{CLAMD[1]}",
        "PP_JOB_POLL_SECONDS": "0.05",
        "PP_UGC_UPLOADS_PER_DAY": "1000000",
    },
)
BASE = SERVER.base
DATABASE = SERVER.database
UPLOAD_BYTES = 1024 * 1024

SETUP = """
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{database}` on
127.0.0.1:5432, Redis 127.0.0.1:6379 under prefix `{prefix}`, jobs in-process, clamd on
127.0.0.1:3310 with the project's test signatures, local object store, access log off, rate
limits out of the way), with {items:,} published public items seeded straight into the
database. Browse: `GET /api/v1/ugc?sort=newest&limit=20`, anonymous. Hot feed:
`GET /api/v1/ugc/hot?limit=20` (the capped list in Redis, items from PostgreSQL). Download:
`GET /api/v1/ugc/{{id}}/download` for random items as one signed-in player (302 to a signed
URL; the first download of each item that day is counted). Upload latency: {uploads}
sequential 1 MB text uploads, each timed from `POST /api/v1/ugc` through the PUT to the
signed URL, `complete` (size and sha256 checked) and the clamd scan until the item reads
`pending_review` (polled every 10 ms); its "req/s" is uploads per second, one at a time.
Run with `.venv/bin/python bench/ugc.py`.
"""


def check_clamd() -> None:
    try:
        with socket.create_connection(CLAMD, timeout=3) as sock:
            sock.sendall(b"zPING\0")
            if sock.recv(16).rstrip(b"\0") != b"PONG":
                raise OSError("no PONG")
    except OSError as exc:
        raise wrk.BenchError(f"clamd does not answer on {CLAMD}: {exc} (run scripts/services.sh)")


def call(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {url} answered {failure.code}: {failure.read()[:300]!r}")


def sign_in() -> tuple[str, str]:
    body = json.dumps({"device_id": f"bench-ugc-{secrets.token_hex(8)}"}).encode()
    _, tokens = call(
        "POST",
        f"{BASE}/api/v1/auth/device/login",
        body=body,
        headers={"Content-Type": "application/json"},
    )
    return str(tokens["access_token"]), str(tokens["user"]["canonical_id"])


def seed(
    items: int, creator: str, *, database: str = DATABASE, ids_file: Path = RESULTS / "ugc-ids.txt"
) -> Path:
    """Published public items straight into the database; returns a file of their ids."""
    psql(
        f"""
        INSERT INTO ugc (id, public_id, creator_id, type, name, description, tags, metadata,
            status, visibility, filename, upload_key, object_key, content_type, size, checksum,
            scan_state, scan_round, downloads_count, rating_sum, rating_count, rating_average,
            created_at, updated_at, uploaded_at, published_at)
        SELECT gen_random_uuid(), 'u' || lpad(to_hex(n), 24, '0'), u.id, 'map',
            'Bench map ' || n, 'A seeded map number ' || n, '["bench"]'::jsonb, '{{}}'::jsonb,
            'published', 'public', 'map.zip',
            'ugc/map/u' || lpad(to_hex(n), 24, '0') || '/map.zip',
            'ugc/map/u' || lpad(to_hex(n), 24, '0') || '/released/map.zip',
            'application/zip', 1024, repeat('0', 64), 'clean', 1, n % 500,
            3 * (n % 5 + 1), 3, n % 5 + 1,
            now() - n * interval '1 second', now(), now(), now() - n * interval '1 second'
        FROM generate_series(1, {items}) AS n, users AS u WHERE u.canonical_id = '{creator}';
        INSERT INTO ugc_tags (ugc_id, tag) SELECT id, 'bench' FROM ugc;
        ANALYZE ugc; ANALYZE ugc_tags;
        """,
        database,
    )
    ids = psql("SELECT public_id FROM ugc ORDER BY random() LIMIT 2000", database).split()
    if len(ids) < min(items, 2000):
        raise wrk.BenchError("seeding the items failed")
    ids_file.write_text("\n".join(ids) + "\n")
    return ids_file


def upload_latencies(token: str, count: int) -> list[float]:
    """Seconds from draft to `pending_review` for `count` sequential 1 MB uploads."""
    auth = {"Authorization": f"Bearer {token}"}
    seconds = []
    for n in range(count):
        data = os.urandom(UPLOAD_BYTES // 2).hex().encode()
        started = time.perf_counter()
        draft = {
            "type": "text",
            "name": f"Bench upload {n}",
            "file": {
                "filename": "bench.txt",
                "size": len(data),
                "content_type": "text/plain",
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        }
        _, created = call(
            "POST",
            f"{BASE}/api/v1/ugc",
            body=json.dumps(draft).encode(),
            headers={**auth, "Content-Type": "application/json"},
        )
        upload = created["upload"]
        put_headers = {k: v for k, v in upload["headers"].items() if k.lower() != "content-length"}
        call("PUT", upload["url"], body=data, headers=put_headers)
        ugc_id = created["ugc"]["ugc_id"]
        call("POST", f"{BASE}/api/v1/ugc/{ugc_id}/complete", headers=auth)
        deadline = time.monotonic() + 60
        while True:
            _, item = call("GET", f"{BASE}/api/v1/ugc/{ugc_id}", headers=auth)
            if item["status"] == "pending_review":
                break
            if item["status"] != "scanning" or time.monotonic() > deadline:
                raise wrk.BenchError(f"upload {ugc_id} ended {item['status']}")
            time.sleep(0.01)
        seconds.append(time.perf_counter() - started)
    return seconds


def latency_result(seconds: list[float]) -> wrk.WrkResult:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return wrk.WrkResult(
        requests=len(ordered),
        requests_per_second=len(ordered) / sum(ordered),
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=p99 * 1000,
    )


def main(duration: int, items: int, uploads: int) -> int:
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    record = duration == wrk.DURATION_SECONDS
    SERVER.reset()
    shutil.rmtree(OBJECTS, ignore_errors=True)
    try:
        check_clamd()
        with SERVER.running():
            token, creator = sign_in()
            ids_file = seed(items, creator)
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=min(3, duration))  # warm-up
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=duration)
            baseline = healthz.result
            scenarios = [
                healthz,
                wrk.run_scenario(
                    "GET /api/v1/ugc?sort=newest&limit=20",
                    f"{BASE}/api/v1/ugc?sort=newest&limit=20",
                    baseline=baseline,
                    duration_seconds=duration,
                ),
                wrk.run_scenario(
                    "GET /api/v1/ugc/hot?limit=20",
                    f"{BASE}/api/v1/ugc/hot?limit=20",
                    baseline=baseline,
                    duration_seconds=duration,
                ),
                wrk.run_scenario(
                    "GET /api/v1/ugc/{id}/download (302)",
                    f"{BASE}/api/v1/ugc",
                    baseline=baseline,
                    script=wrk.LUA_DIR / "ugc_download.lua",
                    script_args=[str(ids_file), token],
                    duration_seconds=duration,
                ),
            ]
            latencies = latency_result(upload_latencies(token, uploads))
            name = "upload 1 MB -> pending_review (clamd)"
            print(wrk.result_line(name, latencies, baseline), flush=True)
            scenarios.append(wrk.Scenario(name, latencies))
        setup = SETUP.format(
            database=DATABASE, prefix=SERVER.redis_prefix, items=items, uploads=uploads
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
        shutil.rmtree(OBJECTS, ignore_errors=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--uploads", type=int, default=100)
    arguments = parser.parse_args()
    sys.exit(main(arguments.duration, arguments.items, arguments.uploads))
