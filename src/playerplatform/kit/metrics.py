"""Prometheus metrics: the HTTP metrics the gateway records, helpers for other modules to
define theirs once, and the exposition used by `GET /metrics`.

Several worker processes (`playerplatform serve --workers N`): prometheus_client decides how
to store values when it is first imported, from the `PROMETHEUS_MULTIPROC_DIR` environment
variable. So the serving command must, *before* the workers start (they are spawned and
import the app afresh), call `prepare_multiprocess_dir(path)`: it creates the directory,
removes files left by a previous run, and sets the variable the workers inherit. `/metrics`
then aggregates every worker's files with the multiprocess collector. With one process
nothing needs doing.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

M = TypeVar("M", bound=MetricWrapperBase)
_defined: dict[str, MetricWrapperBase] = {}


def _once(kind: type[M], name: str, **kwargs: object) -> M:
    existing = _defined.get(name)
    if existing is not None:
        if not isinstance(existing, kind):
            raise TypeError(f"metric {name} is already defined as {type(existing).__name__}")
        return existing
    metric = kind(name, **kwargs)  # type: ignore[arg-type]
    _defined[name] = metric
    return metric


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """A process-wide counter, created on first use and returned as is afterwards."""
    return _once(Counter, name, documentation=documentation, labelnames=tuple(labelnames))


def histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    """A process-wide histogram, created on first use and returned as is afterwards."""
    return _once(
        Histogram,
        name,
        documentation=documentation,
        labelnames=tuple(labelnames),
        buckets=tuple(buckets),
    )


def gauge(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    multiprocess_mode: str = "livesum",
) -> Gauge:
    """A process-wide gauge; with several workers, values combine by `multiprocess_mode`."""
    return _once(
        Gauge,
        name,
        documentation=documentation,
        labelnames=tuple(labelnames),
        multiprocess_mode=multiprocess_mode,
    )


HTTP_REQUESTS = counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_DURATION = histogram(
    "http_request_duration_seconds",
    "Time from the first byte of the request to the end of the response.",
    ("method", "route"),
)


def multiprocess_dir() -> str | None:
    """The shared directory of a multi-worker server, when there is one."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> None:
    """Call in the parent process before starting several workers: an empty directory for
    the workers' metric files, announced to them through the environment."""
    directory = Path(path)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def serve_metrics(host: str, port: int) -> None:
    """Serve the exposition on a listener of its own (a daemon thread of this process), so
    metrics stay off the public API port. Call in the serving process, after
    `prepare_multiprocess_dir` when several workers serve: it reads their files per scrape."""
    registry = REGISTRY
    directory = multiprocess_dir()
    if directory is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    start_http_server(port, addr=host, registry=registry)


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of every metric, and its content type."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    # Per scrape, as prometheus_client prescribes: the collector reads all workers' files.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry), CONTENT_TYPE_LATEST


GC_PAUSES = histogram(
    "python_gc_pause_seconds",
    "Time the process stood still in the cycle collector, by generation collected.",
    ("generation",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
_gc_started: list[float] = []


def _time_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started.append(perf_counter())
    elif _gc_started:
        GC_PAUSES.labels(str(info["generation"])).observe(perf_counter() - _gc_started.pop())


def watch_gc() -> None:
    """Record every cycle-collector pause (`python_gc_pause_seconds`); once per process."""
    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)


# Young-generation collections every 20,000 net container allocations instead of 700: a
# request allocates hundreds, and the young objects are mostly gone by the next collection.
GC_THRESHOLDS = (20_000, 10, 10)


def settle_gc(*, tune: bool, collect: bool = True) -> None:
    """Call once the process has started (a command line may have started it with the cycle
    collector off): everything alive now (modules, the app's routes and models, the runtime)
    lives as long as the process, so it is frozen out of the cycle collector's sight and the
    collector runs again; with `tune`, young collections run less often. A full collection
    then walks what requests and caches built since, not the whole program. Without
    `collect`, the garbage of start-up is frozen with the rest (a full collection of a
    program this size takes a fifth of a second)."""
    if collect:
        gc.collect()
    gc.freeze()
    if tune:
        gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()
