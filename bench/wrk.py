"""The benchmark driver: run wrk scenarios and record them in BENCHMARKS.md. Standard library only.

Scenario scripts (`bench/<area>.py`) start a server, call `run_scenario` per route and finish with
`record_section`. Every result is also compared with `/healthz` measured in the same run, so a
number taken on a busy machine still says something: the ratio is what to compare across runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"  # the census (`bench/census.py`), rewritten whole
# The deep dives (one domain each, beyond the census: job throughput, upload latency, big
# boards, ...): `bench/<domain>.py`, each replacing its own section.
DEEP_DIVES_MD = ROOT / "bench" / "DEEP_DIVES.md"
LUA_DIR = Path(__file__).resolve().parent / "lua"

THREADS = 2
CONNECTIONS = 32
DURATION_SECONDS = 15

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_NON_2XX_LINE = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_LINE = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)


class BenchError(RuntimeError):
    """A benchmark could not run or its numbers cannot be trusted."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    socket_detail: str = ""

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass(frozen=True)
class Scenario:
    name: str
    result: WrkResult


def parse_wrk(output: str) -> WrkResult:
    """Read requests, req/s, p50 and p99 (ms) and the error counts from `wrk --latency` output."""
    rps = _RPS_LINE.search(output)
    requests = _REQUESTS_LINE.search(output)
    latencies = {
        m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)] for m in _LATENCY_LINE.finditer(output)
    }
    if rps is None or requests is None or "50" not in latencies or "99" not in latencies:
        raise BenchError(f"unreadable wrk output (was --latency given?):\n{output}")
    non_2xx = _NON_2XX_LINE.search(output)
    sockets = _SOCKET_LINE.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        requests_per_second=float(rps.group(1)),
        p50_ms=latencies["50"],
        p99_ms=latencies["99"],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        socket_detail=(
            "connect {}, read {}, write {}, timeout {}".format(*sockets.groups()) if sockets else ""
        ),
    )


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; installing it with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is still missing after apt-get install wrk")
    return found


def run_wrk(
    url: str,
    *,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    headers: Sequence[str] = (),
    duration_seconds: int = DURATION_SECONDS,
    threads: int = THREADS,
    connections: int = CONNECTIONS,
) -> WrkResult:
    """One wrk run against a loopback URL; raises BenchError when wrk fails or output is unreadable."""
    if not url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise BenchError(f"benchmarks run against loopback only, not {url}")
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_seconds}s",
        "--timeout",
        "10s",
        "--latency",
    ]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def run_scenario(
    name: str,
    url: str,
    *,
    baseline: WrkResult | None = None,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    headers: Sequence[str] = (),
    duration_seconds: int = DURATION_SECONDS,
    warm_up: bool = False,
) -> Scenario:
    """Run one scenario, print its result line and fail loudly if any request failed.

    Without a baseline the scenario is the baseline itself (`GET /healthz`). With `warm_up`,
    the same load runs once first, unmeasured, for the same time: for reads served from
    per-process caches, which a long-running server has filled and a fresh one has not.
    """
    if warm_up:
        run_wrk(
            url,
            script=script,
            script_args=script_args,
            headers=headers,
            duration_seconds=duration_seconds,
        )
    result = run_wrk(
        url,
        script=script,
        script_args=script_args,
        headers=headers,
        duration_seconds=duration_seconds,
    )
    print(result_line(name, result, baseline or result), flush=True)
    if result.errors:
        raise BenchError(
            f"{name}: {result.non_2xx} non-2xx responses and {result.socket_errors} socket errors "
            f"({result.socket_detail or 'none'}) out of {result.requests} requests; the numbers "
            "are not valid"
        )
    return Scenario(name, result)


def ratio(result: WrkResult, baseline: WrkResult | None) -> str:
    if baseline is None or baseline.requests_per_second <= 0:
        return "-"
    return f"{result.requests_per_second / baseline.requests_per_second:.3f}"


def result_line(name: str, result: WrkResult, baseline: WrkResult | None = None) -> str:
    return (
        f"{name:<46} {result.requests_per_second:>9.1f} req/s   p50 {result.p50_ms:>8.2f} ms   "
        f"p99 {result.p99_ms:>8.2f} ms   ratio to /healthz {ratio(result, baseline)}"
    )


# --- The machine ------------------------------------------------------------------------------


def _first_match(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else None


def _command_output(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def postgres_version() -> str:
    query = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc"]
    return _command_output([*query, "SHOW server_version"]) or "unavailable"


def redis_version() -> str:
    info = _command_output(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "INFO", "server"])
    found = re.search(r"^redis_version:(\S+)", info or "", re.MULTILINE)
    return found.group(1) if found else "unavailable"


def load_average() -> str:
    return _first_match("/proc/loadavg", r"^(\S+ \S+ \S+)") or "unknown"


def warn_if_busy() -> str:
    """The load average now; warns when the machine is already busy (the numbers will be low)."""
    load = load_average()
    cores = len(os.sched_getaffinity(0))
    with contextlib.suppress(ValueError):
        if float(load.split()[0]) > cores:
            print(
                f"bench: warning: load average {load} on {cores} cores before the run; "
                "the numbers will be lower than on an idle machine",
                flush=True,
            )
    return load


def machine_description(load_at_start: str | None = None) -> list[tuple[str, str]]:
    """What the numbers were measured on: cores, CPU, memory, kernel, Python, stores, load, date."""
    mem_kib = _first_match("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    started = [("load average at the start (1/5/15 min)", load_at_start)] if load_at_start else []
    return [
        ("cores (nproc)", str(len(os.sched_getaffinity(0)))),
        ("CPU", _first_match("/proc/cpuinfo", r"^model name\s*:\s*(.+)$") or platform.machine()),
        ("memory", f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib else "unknown"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("PostgreSQL", postgres_version()),
        ("Redis", redis_version()),
        *started,
        ("load average at the end (1/5/15 min)", load_average()),
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]


# --- BENCHMARKS.md ----------------------------------------------------------------------------


def render_section(
    title: str,
    scenarios: Sequence[Scenario],
    *,
    baseline: WrkResult | None,
    setup: str = "",
    machine: Sequence[tuple[str, str]] | None = None,
    load_at_start: str | None = None,
) -> str:
    lines = [f"## {title}", ""]
    if setup:
        lines += [setup.strip(), ""]
    lines += [
        f"wrk: {THREADS} threads, {CONNECTIONS} connections, {DURATION_SECONDS} s per scenario, "
        "against 127.0.0.1. Ratio = req/s of the scenario / req/s of `GET /healthz` in the same run.",
        "",
        "| scenario | req/s | p50 (ms) | p99 (ms) | ratio to /healthz |",
        "|---|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        r = scenario.result
        lines.append(
            f"| {scenario.name} | {r.requests_per_second:.1f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {ratio(r, baseline)} |"
        )
    lines += ["", "Machine:", ""]
    for key, value in machine if machine is not None else machine_description(load_at_start):
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def replace_section(document: str, title: str, section: str) -> str:
    """The document with its `## title` section replaced by `section` (appended when absent)."""
    heading = f"## {title}"
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        body = document.rstrip("\n")
        return f"{body}\n\n{section}" if body else section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + rest if rest else "")


def record_section(
    title: str,
    scenarios: Sequence[Scenario],
    *,
    baseline: WrkResult | None,
    setup: str = "",
    load_at_start: str | None = None,
    path: Path = DEEP_DIVES_MD,
) -> None:
    """Write (or replace) the named section of the deep dives with a results table and the machine."""
    section = render_section(
        title, scenarios, baseline=baseline, setup=setup, load_at_start=load_at_start
    )
    document = path.read_text() if path.exists() else "# Benchmarks: deep dives\n"
    path.write_text(replace_section(document, title, section))
    print(f"bench: recorded '{title}' in {path.relative_to(ROOT)}", flush=True)


if __name__ == "__main__":
    sys.exit("bench/wrk.py is the driver; run a scenario script such as bench/identity.py")
