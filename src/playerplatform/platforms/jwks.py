"""A cached JSON Web Key Set, fetched with the shared httpx client.

Keys are kept for `ttl` seconds and refetched early when a token names a `kid` we do not
know (the issuer rotated its keys), but never more often than once per `refetch_interval`,
so a flood of tokens with made-up kids cannot turn us into a load generator against the
issuer.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt

from playerplatform.platforms.transport import json_object, provider_error, send


class JwksCache:
    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        *,
        platform: str,
        timeout: float,
        ttl: float = 3600.0,
        refetch_interval: float = 5.0,
    ) -> None:
        self.http = http
        self.url = url
        self.platform = platform
        self.timeout = timeout
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named `kid`, or None when the issuer does not publish it.

        Raises `ProviderError` when the set cannot be fetched and no usable copy is held.
        """
        now = time.monotonic()
        keys = self._keys
        wanted = keys is None or now - self._fetched_at >= self.ttl or kid not in keys
        if wanted and self._may_fetch(now):
            async with self._lock:
                # Another request may have refreshed the set while we waited.
                if self._attempted_at is None or self._attempted_at <= now:
                    await self._refresh(keep_stale=kid in (keys or {}))
            keys = self._keys
        if keys is None:
            raise provider_error(self.platform, "signing keys unavailable")
        return keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.refetch_interval

    async def _refresh(self, *, keep_stale: bool) -> None:
        self._attempted_at = time.monotonic()
        try:
            response = await send(
                self.http, self.platform, "GET", self.url, time_limit=self.timeout
            )
            if response.status_code != 200:
                raise provider_error(
                    self.platform, f"key set answered {response.status_code}", path=self.url
                )
            keys = _parse_keys(json_object(response, self.platform).get("keys"), self.platform)
        except Exception:
            # A key we already hold still verifies while the issuer has a bad minute.
            if keep_stale:
                return
            raise
        self._keys = keys
        self._fetched_at = time.monotonic()


def _parse_keys(entries: object, platform: str) -> dict[str, jwt.PyJWK]:
    if not isinstance(entries, list):
        raise provider_error(platform, "malformed key set")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # a key type we cannot use; the others still count
    return keys
