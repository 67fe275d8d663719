"""`make run` and `make clean` as a newcomer uses them, in a checkout of their own: the
README's own example (`make run RUN_HOST=0.0.0.0 RUN_PORT=9000`, on a free port), links that
follow the serving address, a printed sign-in that works (and none when it would not), a
restart that skips what is already done, and a `make clean` that asks before deleting data."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.ugc import sha256

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout of the files `make run` and `make clean` use, sharing this .venv."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    for name in ("run.sh", "clean.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    # The shared .venv is this checkout's: `make venv` must never install into it from here.
    venv = tmp_path / "scripts" / "venv.sh"
    venv.write_text("#!/usr/bin/env bash\nexit 0\n")
    venv.chmod(0o755)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PP_", "MAKE"))}
    env["PYTHONUNBUFFERED"] = "1"
    # No metrics listener: two runs of the suite at once would both want its default port.
    env["PP_METRICS_PORT"] = "0"
    return env


class Server:
    def __init__(self, checkout: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = checkout / f"run-{time.monotonic_ns()}.log"
        started = time.monotonic()
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["make", "run", "RUN_HOST=0.0.0.0", f"RUN_PORT={port}"],
                cwd=checkout,
                env=_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with httpx.Client() as http:
            while True:
                try:
                    if http.get(f"{self.base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert self.process.poll() is None, self.output
                assert time.monotonic() - started < 90, self.output
                time.sleep(0.05)
        self.seconds = time.monotonic() - started
        self.cpu_seconds = _group_cpu_seconds(self.process.pid)

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        """Stop the server and every process of its group (the HTTP server's workers may
        outlive its main process while they shut down, holding the database)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        deadline = time.monotonic() + 20
        while _running_in_group(self.process.pid):
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        self.process.wait(timeout=20)
        deadline = time.monotonic() + 10
        while _running_in_group(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _group_cpu_seconds(pgid: int) -> float:
    """The CPU time the group's processes have used so far, with that of the children they
    reaped: unlike the time to the first answer, it does not grow with the load others put on
    the machine."""
    # utime, stime, cutime, cstime
    ticks = sum(sum(int(f) for f in fields[11:15]) for fields in _in_group(pgid))
    return ticks / os.sysconf("SC_CLK_TCK")


def _running_in_group(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: an orphan's
    zombie stays in its group for as long as nothing reaps it (a container whose first
    process never does keeps it for ever), and it holds no file."""
    return any(fields[0] != "Z" for fields in _in_group(pgid))


def _in_group(pgid: int) -> Iterator[list[str]]:
    """The `/proc/<pid>/stat` fields after the command name of each process of the group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                yield fields


@pytest.fixture
def serve(checkout: Path) -> Iterator[Server]:
    servers: list[Server] = []

    def start() -> Server:
        servers.append(Server(checkout, port))
        return servers[-1]

    port = free_port()
    yield start  # type: ignore[misc]
    for server in servers:
        server.stop()


def _printed_sign_in(output: str) -> str:
    """The `curl ... -d "..."` command the banner prints, as one shell line."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "sign in      curl" in line)
    first = lines[start].split("sign in", 1)[1].strip().removesuffix("\\")
    return first + " " + lines[start + 1].strip()


def test_the_readme_example_serves_links_and_sign_in_on_its_own_port(
    checkout: Path, serve: object
) -> None:
    server = serve()  # type: ignore[operator]
    assert f"public URL   {server.base}" in server.output

    # The printed sign-in command, run as printed, signs the admin in.
    signed_in = subprocess.run(
        ["bash", "-c", _printed_sign_in(server.output)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"access_token"' in signed_in.stdout, server.output + signed_in.stdout

    with httpx.Client(base_url=server.base) as http:
        player = http.post(
            "/api/v1/auth/device/login", json={"device_id": "readme-example-device"}
        ).json()
        headers = {"Authorization": f"Bearer {player['access_token']}"}
        data = b"a map description\n"
        draft = http.post(
            "/api/v1/ugc",
            headers=headers,
            json={
                "type": "text",
                "name": "Harbour notes",
                "file": {
                    "filename": "notes.txt",
                    "size": len(data),
                    "content_type": "text/plain",
                    "sha256": sha256(data),
                },
            },
        )
        assert draft.status_code == 201, draft.text
        upload = draft.json()["upload"]
        assert upload["url"].startswith(f"{server.base}/"), upload["url"]
        put = httpx.put(upload["url"], content=data, headers=upload["headers"])
        assert put.status_code in (200, 204), put.text

        registered = http.post(
            "/api/v1/auth/email/register",
            json={"email": "newcomer@studio.test", "password": "harbour-lights-at-dusk-4"},
        )
        assert registered.status_code in (200, 201), registered.text
    with sqlite3.connect(checkout / "var" / "playerplatform.db") as db:
        (body,) = db.execute(
            "SELECT body_text FROM dev_mails WHERE to_address = 'newcomer@studio.test'"
        ).fetchone()
    (link,) = [w for w in body.split() if "token=" in w]
    assert link.startswith(f"{server.base}/verify-email?token="), link
    assert httpx.get(link).status_code == 200

    # A restart: the database is at its head, the admin exists; only the server starts.
    server.stop()
    again = serve()  # type: ignore[operator]
    print(
        f"first start {server.seconds:.2f} s ({server.cpu_seconds:.2f} s of CPU),"
        f" restart {again.seconds:.2f} s ({again.cpu_seconds:.2f} s of CPU)"
    )
    assert "sign in      curl" in again.output
    # Less work than the first start (which migrated the database and made the admin),
    # measured in CPU time: the time to the first answer moves with the machine's other load.
    assert again.cpu_seconds < server.cpu_seconds


def test_no_sign_in_is_printed_for_an_admin_that_was_not_created(
    checkout: Path, serve: object
) -> None:
    # Another admin exists (a demo's, or one made by hand): the bootstrap admin is not made.
    made = subprocess.run(
        [
            str(checkout / ".venv" / "bin" / "playerplatform"),
            "admin",
            "create",
            "--email",
            "lead@studio.test",
            "--password",
            "quiet-harbour-passphrase-8",
        ],
        cwd=checkout,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    server = serve()  # type: ignore[operator]
    assert "No bootstrap admin sign-in to show" in server.output
    assert "admin@localhost.test was not created" in server.output
    assert "curl" not in server.output


def test_a_database_at_its_head_is_not_handed_to_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}"
    code = (
        "import sys\n"
        "from playerplatform.kit import migrate\n"
        f"migrate.upgrade({url!r})\n"
        "print('alembic' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.stdout.strip() == "True", first.stderr
    assert again.stdout.strip() == "False", again.stderr


def test_make_clean_says_what_it_deletes_and_asks(checkout: Path) -> None:
    (checkout / "var" / "objects").mkdir(parents=True)
    (checkout / "var" / "playerplatform.db").write_bytes(b"players")

    def clean(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "clean", *args],
            cwd=checkout,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )

    refused = clean()
    assert refused.returncode != 0
    assert "var/playerplatform.db" in refused.stdout and "var/objects/" in refused.stdout
    assert "FORCE=1" in refused.stderr
    assert (checkout / "var" / "playerplatform.db").exists()

    forced = clean("FORCE=1")
    assert forced.returncode == 0, forced.stderr
    assert "var/playerplatform.db" in forced.stdout
    assert not (checkout / "var").exists()
