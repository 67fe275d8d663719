"""What the HTTP benchmarks share: a PostgreSQL database and a Redis key prefix of their own,
and `playerplatform serve --workers 2` (production shape) on them, stopped with its workers at
the end. Each scenario script names its server once:

    SERVER = BenchServer("identity", port=18080)
    SERVER.reset()                      # fresh database, no Redis keys
    with SERVER.running():
        ...                             # wrk against SERVER.base
    SERVER.clean()
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path

UNLIMITED = "100000000/minute"
REDIS_URL = "redis://127.0.0.1:6379/0"
READY_TIMEOUT_SECONDS = 90.0


def psql(sql: str, database: str = "postgres") -> str:
    """Run one statement as the local superuser; returns its output (unaligned, tuples only)."""
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )
    return done.stdout.strip()


def seed_inbox_sql(sku_id: str, per_player: int) -> str:
    """SQL giving every player `per_player` inbox messages, a minute apart, every other one a
    gift of one `sku_id` (the API would take longer to fill than to measure)."""
    return f"""INSERT INTO inbox_messages (id, message_id, user_id, kind, title, body, data,
        attachments, created_at)
        SELECT gen_random_uuid(), 'm' || substr(md5(random()::text || u.id::text || n), 1, 24),
               u.id, CASE WHEN n % 2 = 0 THEN 'gift' ELSE 'system' END,
               '{{"en": "Hello", "fr": "Bonjour"}}'::jsonb,
               '{{"en": "A message from the studio."}}'::jsonb, '{{}}'::jsonb,
               CASE WHEN n % 2 = 0 THEN '[{{"sku_id": "{sku_id}", "quantity": 1}}]'::jsonb
                    ELSE '[]'::jsonb END,
               now() - n * interval '1 minute'
        FROM users u CROSS JOIN generate_series(1, {int(per_player)}) n"""


def forget_redis_keys(prefix: str) -> None:
    keys = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "--scan", "--pattern", f"{prefix}*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for start in range(0, len(keys), 500):
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "UNLINK", *keys[start : start + 500]],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with `start_new_session=True`, and its children."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(frozen=True)
class BenchServer:
    name: str  # database `pp_bench_<name>`, Redis prefix `ppbench:<name>:`, its own log
    port: int
    env: Mapping[str, str] = field(default_factory=dict)  # settings beyond the common ones

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> str:
        return f"pp_bench_{self.name}"

    @property
    def redis_prefix(self) -> str:
        return f"ppbench:{self.name}:"

    @property
    def log(self) -> Path:
        return wrk.ROOT / "bench" / "results" / f"{self.name}-server.log"

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PP_")}
        env.update(
            # Loopback: no TLS to the database (asyncpg would otherwise negotiate it).
            PP_DATABASE_URL=(
                f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}?ssl=disable"
            ),
            PP_REDIS_URL=REDIS_URL,
            PP_REDIS_PREFIX=self.redis_prefix,
            PP_ACCESS_LOG="false",
            PP_LOG_LEVEL="warning",
            PP_PUBLIC_URL=self.base,
            PP_RATE_LIMIT_FAILED_LOGIN=UNLIMITED,
            PP_RATE_LIMIT_AUTH=UNLIMITED,
            PP_RATE_LIMIT_WRITE=UNLIMITED,
            PP_RATE_LIMIT_READ=UNLIMITED,
            PP_RATE_LIMIT_WEBHOOK=UNLIMITED,
        )
        env.update(self.env)
        return env

    def reset(self) -> None:
        """A fresh, empty database and no Redis keys under the prefix."""
        self.clean()
        psql(f'CREATE DATABASE "{self.database}"')

    def clean(self) -> None:
        psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        forget_redis_keys(self.redis_prefix)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Serve (it migrates first) until the block ends; fail when it never gets ready."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            server = subprocess.Popen(
                [
                    str(wrk.ROOT / ".venv" / "bin" / "playerplatform"),
                    *("serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"),
                ],
                cwd=wrk.ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its workers
            )
            try:
                self._wait_until_ready(server)
                yield
            finally:
                stop(server)

    def _wait_until_ready(self, server: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise wrk.BenchError(f"the server exited with {server.returncode}; see {self.log}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.5)
        raise wrk.BenchError(
            f"{self.base}/readyz did not answer 200 in {READY_TIMEOUT_SECONDS:.0f} s"
        )
