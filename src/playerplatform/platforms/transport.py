"""The one place platform calls meet the network.

Every Steam, Epic and Twitch request goes through `send`, so transport failures turn into
`ProviderError` the same way everywhere and nothing secret (keys travel in headers or bodies,
never in URLs) ends up in an exception or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import structlog

from playerplatform.kit.errors import ProviderError

log = structlog.get_logger("playerplatform.platforms")
_REPEATABLE = frozenset({"GET", "HEAD"})


def provider_error(platform: str, reason: str, **fields: Any) -> ProviderError:
    """Log why a platform call failed (no secrets in `fields`) and build the error to raise."""
    log.warning("platform_call_failed", platform=platform, reason=reason, **fields)
    return ProviderError(f"{platform} is unavailable: {reason}")


async def send(
    http: httpx.AsyncClient,
    platform: str,
    method: str,
    url: str,
    *,
    time_limit: float,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; a timeout or transport failure becomes `ProviderError`.

    A read (GET, HEAD) is sent once more when the server closed the connection without
    answering: a kept-alive connection the server closed as the request went out (its idle
    timeout) says nothing about the platform, and a read can be repeated. A write is not."""
    try:
        try:
            return await http.request(method, url, timeout=time_limit, **kwargs)
        except httpx.RemoteProtocolError:
            if method.upper() not in _REPEATABLE:
                raise
            return await http.request(method, url, timeout=time_limit, **kwargs)
    except httpx.TimeoutException:
        # `from None`: the httpx exception carries the request, headers and all.
        raise provider_error(platform, "timed out", path=httpx.URL(url).path) from None
    except httpx.HTTPError as exc:
        raise provider_error(
            platform, "unreachable", path=httpx.URL(url).path, error=type(exc).__name__
        ) from None


def json_object(response: httpx.Response, platform: str) -> dict[str, Any]:
    """The body as a JSON object, or `ProviderError` when it is anything else."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise provider_error(
            platform, "malformed response", status=response.status_code, path=response.url.path
        )
    return body
