"""Rate limits per route class and failed-login throttling, counted in the hot store.

Limits come from settings in `limits` syntax ("300/minute", "10/second", "5 per 2 seconds"),
parsed once. Each check is one sliding-window hit on the hot store: one Redis round trip.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import limits

from playerplatform.kit.errors import RateLimited
from playerplatform.kit.hotstore import HotStore, WindowResult
from playerplatform.kit.settings import Settings

ROUTE_CLASSES = ("auth", "write", "read", "webhook")


@dataclass(frozen=True, slots=True)
class Quota:
    """A parsed limit: `amount` hits per `window` seconds."""

    amount: int
    window: float

    @classmethod
    def parse(cls, text: str) -> Quota:
        item = limits.parse(text)
        return cls(amount=item.amount, window=float(item.get_expiry()))


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


class RateLimiter:
    """Counts requests per route class and subject, and failed logins per IP and account."""

    def __init__(self, settings: Settings, hot: HotStore) -> None:
        self.settings = settings
        self.hot = hot
        self.enabled = settings.rate_limit_enabled
        self.quotas = {
            "auth": Quota.parse(settings.rate_limit_auth),
            "write": Quota.parse(settings.rate_limit_write),
            "read": Quota.parse(settings.rate_limit_read),
            "webhook": Quota.parse(settings.rate_limit_webhook),
        }
        self.failed_logins = Quota.parse(settings.rate_limit_failed_login)

    async def check(self, route_class: str, subject: str) -> dict[str, str]:
        """Count one request of `route_class` by `subject` (e.g. `ip:1.2.3.4`, `user:ID`).

        Returns the `RateLimit-*` headers for the response; raises `RateLimited` (429, with
        the same headers plus `Retry-After`) when the subject is over its limit.
        """
        window = self.window(route_class, subject)
        if window is None:
            return {}
        key, limit, seconds = window
        result = await self.hot.hit_window(key, limit=limit, window=seconds)
        return self.verdict(route_class, result)

    def window(self, route_class: str, subject: str) -> tuple[str, int, float] | None:
        """(hot-store key, limit, window seconds) counting `subject`'s requests of
        `route_class`, or None when rate limiting is off. For callers that count the hit
        together with other hot-store work (`HotStore.mget_and_hit_window`)."""
        if not self.enabled:
            return None
        quota = self.quotas.get(route_class)
        if quota is None:
            raise ValueError(
                f"unknown route class {route_class!r}; expected one of {ROUTE_CLASSES}"
            )
        return f"rl:{route_class}:{subject}", quota.amount, quota.window

    def verdict(self, route_class: str, result: WindowResult) -> dict[str, str]:
        """The response headers for a counted hit; raises `RateLimited` when it was refused."""
        quota = self.quotas[route_class]
        headers = {
            "RateLimit-Limit": str(result.limit),
            "RateLimit-Remaining": str(result.remaining),
            # While there is room, the policy window: a used unit counts in full for up to
            # one window, then fades out over the next.
            "RateLimit-Reset": _seconds(result.reset_after if not result.allowed else quota.window),
        }
        if not result.allowed:
            raise RateLimited(
                "Too many requests; retry later.",
                headers={**headers, "Retry-After": _seconds(result.reset_after)},
            )
        return headers

    async def check_failed_logins(self, ip: str, account: str | None) -> None:
        """Refuse a login attempt (429 `rate_limited`) while the client IP or the account has
        used up its failed-login allowance. Does not count the attempt. `account` is compared
        as given: callers pass it normalised (e.g. a lower-cased email)."""
        if not self.enabled:
            return
        quota = self.failed_logins
        results = await asyncio.gather(
            *(
                self.hot.peek_window(key, limit=quota.amount, window=quota.window)
                for key in self._failed_login_keys(ip, account)
            )
        )
        refused = [r for r in results if not r.allowed]
        if refused:
            raise self._too_many_failures(max(refused, key=lambda r: r.reset_after))

    async def record_failed_login(self, ip: str, account: str | None) -> None:
        """Count one failed login against the client IP and the account."""
        if not self.enabled:
            return
        quota = self.failed_logins
        await asyncio.gather(
            *(
                self.hot.hit_window(key, limit=quota.amount, window=quota.window)
                for key in self._failed_login_keys(ip, account)
            )
        )

    @staticmethod
    def _failed_login_keys(ip: str, account: str | None) -> list[str]:
        keys = [f"rl:failed_login:ip:{ip}"]
        if account:
            keys.append(f"rl:failed_login:account:{account}")
        return keys

    @staticmethod
    def _too_many_failures(result: WindowResult) -> RateLimited:
        retry_after = _seconds(result.reset_after)
        return RateLimited(
            "Too many failed sign-in attempts; retry later.",
            headers={
                "Retry-After": retry_after,
                "RateLimit-Limit": str(result.limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": retry_after,
            },
        )
