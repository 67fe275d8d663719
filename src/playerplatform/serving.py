"""The HTTP server that runs the API (`playerplatform serve`), chosen by `PP_SERVER`.

Granian (the default) and uvicorn serve the same ASGI application, `create_app`, through their
public entry points, with the same knobs: workers, no access log of their own (the gateway
writes one), no server header, a bound on how long a client may take to send its request
head (`PP_HEADER_READ_TIMEOUT_SECONDS`; the body's bound is the gateway's,
`PP_BODY_READ_TIMEOUT_SECONDS`) and one on how long a stop may take
(`PP_SERVER_STOP_TIMEOUT_SECONDS`). The choice was made on the census (`BENCHMARKS.md`,
"Servers"): uvicorn stays as the fallback an operator can pick without a rebuild.
"""

from __future__ import annotations

from playerplatform.kit.settings import Settings

APP = "playerplatform.app:create_app"
SERVERS = ("granian", "uvicorn")


def serve_api(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve the API until interrupted (blocks; each worker builds its own app)."""
    if settings.server == "uvicorn":
        _uvicorn(settings, host=host, port=port, workers=workers)
    else:
        _granian(settings, host=host, port=port, workers=workers)


def _granian(settings: Settings, *, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    Granian(
        APP,
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.header_read_timeout_seconds * 1000)
        ),
        log_enabled=False,  # the platform's structured log says what matters
        log_access=False,
        respawn_failed_workers=True,
        # A worker that does not stop is killed instead of holding the stop for ever: Granian
        # has no bound of its own, and a worker signalled twice (Ctrl-C reaches the whole
        # process group, and the server signals its workers again) can hang in its handler.
        workers_kill_timeout=max(1, round(settings.server_stop_timeout_seconds)),
    ).serve()


def _uvicorn(settings: Settings, *, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        # uvicorn has no bound on the request head alone: an idle connection is closed after
        # this long, which also ends a head that never finishes.
        timeout_keep_alive=max(1, int(settings.header_read_timeout_seconds)),
        timeout_graceful_shutdown=max(1, round(settings.server_stop_timeout_seconds)),
    )
