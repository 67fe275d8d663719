"""Rate limits per route class and failed-login throttling, counted in the hot store.

Limits come from settings in `limits` syntax ("300/minute", "10/second", "5 per 2 seconds"),
parsed once, and are exact sliding windows in the hot store shared by every process: in no
interval of one window, wherever it starts, does the hot store let more than the limit through
(`memory.sliding_window`; one Redis script).

Route-class limits are counted through a rate-limit counter kept in each process
(`LocalCounter`) so that most requests do not wait on the hot store. The hot store itself
decides a subject's first request in a process, every request the local counter would refuse,
and the request after each `LOCAL_SHARE` of the limit (2.5%, at least one hit) let through
here; the ones in between are let through against the window's count as the hot store last
reported it plus this process's hits since, and are sent to the hot store with that next
verdict or in one batch every `LOCAL_FLUSH_SECONDS`. One verdict per window is in flight at a
time in a process (the others wait for it), and hits are counted as soon as they are sent. So
every refusal is the hot store's own (with its `Retry-After`), one process counts exactly, and
with N processes a subject passes a limit by at most N x 2.5% of it (5% with two): each
process's hits not yet sent, and its own between two verdicts. With limits of fewer than 40
hits, every other request goes to the hot store.
Failed logins are counted in the hot store on every attempt.

While the hot store is down, route-class limits fail open (counted in
`rate_limit_unchecked_total`); failed logins and per-action limits fail closed (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import time
from dataclasses import dataclass

import limits
import structlog

from playerplatform.kit.errors import RateLimited
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore, WindowResult
from playerplatform.kit.metrics import counter
from playerplatform.kit.settings import Settings

log = structlog.get_logger(__name__)

LOCAL_FLUSH_SECONDS = 5.0
# At most this share of a limit (and at least one hit) is let through in a process between two
# of the hot store's own verdicts: with N processes a limit is passed by at most N times this.
LOCAL_SHARE = 0.025
# A window last reported longer ago than this is asked again before it is trusted.
LOCAL_HORIZON_SECONDS = 15.0

ROUTE_CLASSES = ("auth", "write", "read", "webhook")
UNCHECKED = counter(
    "rate_limit_unchecked_total",
    "Requests let through unchecked while the hot store was down, by route class.",
    ("route_class",),
)


@dataclass(frozen=True)
class Quota:
    """A parsed limit: `amount` hits per `window` seconds."""

    amount: int
    window: float

    @classmethod
    def parse(cls, text: str) -> Quota:
        item = limits.parse(text)
        return cls(amount=item.amount, window=float(item.get_expiry()))

    @functools.cached_property
    def limit_header(self) -> str:
        return str(self.amount)

    @functools.cached_property
    def reset_header(self) -> str:
        """`RateLimit-Reset` while there is room: the policy window."""
        return _seconds(self.window)


@functools.lru_cache(maxsize=64)
def _quota(rule: str) -> Quota:
    return Quota.parse(rule)


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


class RateLimiter:
    """Counts requests per route class and subject, and failed logins per IP and account."""

    def __init__(self, settings: Settings, hot: HotStore) -> None:
        self.settings = settings
        self.hot = hot
        self.local_counter = LocalCounter(hot)
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
        try:
            result = await self.local_counter.hit(key, limit=limit, window=seconds)
        except UNAVAILABLE:
            # The hot store is down: route limits fail open, so that what does not need it
            # keeps working (what does answers 503 itself). Counted, not logged per request.
            UNCHECKED.labels(route_class).inc()
            return {}
        return self.verdict(route_class, result)

    def check_now(self, route_class: str, key: str) -> dict[str, str] | None:
        """`check`, when this process's counter can decide without the hot store; None when it
        cannot (nothing was counted: then `check`). For hot paths: `key` is the subject's
        window as `window` names it, kept by the caller."""
        if not self.enabled:
            return {}
        quota = self.quotas[route_class]
        remaining = self.local_counter.remaining_now(key, limit=quota.amount)
        if remaining is None:
            return None
        return {
            "RateLimit-Limit": quota.limit_header,
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": quota.reset_header,
        }

    def window(self, route_class: str, subject: str) -> tuple[str, int, float] | None:
        """(hot-store key, limit, window seconds) counting `subject`'s requests of
        `route_class`, or None when rate limiting is off."""
        if not self.enabled:
            return None
        quota = self.quotas.get(route_class)
        if quota is None:
            raise ValueError(
                f"unknown route class {route_class!r}; expected one of {ROUTE_CLASSES}"
            )
        return self.key(route_class, subject), quota.amount, quota.window

    @staticmethod
    def key(route_class: str, subject: str) -> str:
        """The hot-store key of `subject`'s window for `route_class`."""
        return f"rl:{route_class}:{subject}"

    async def close(self) -> None:
        """Send the hits not yet sent."""
        await self.local_counter.close()

    def verdict(self, route_class: str, result: WindowResult) -> dict[str, str]:
        """The response headers for a counted hit; raises `RateLimited` when it was refused."""
        headers = {
            "RateLimit-Limit": str(result.limit),
            "RateLimit-Remaining": str(result.remaining),
            # While there is room, the policy window: a used unit counts in full for up to
            # one window, then fades out over the next.
            "RateLimit-Reset": (
                self.quotas[route_class].reset_header
                if result.allowed
                else _seconds(result.reset_after)
            ),
        }
        if not result.allowed:
            raise RateLimited(
                "Too many requests; retry later.",
                headers={**headers, "Retry-After": _seconds(result.reset_after)},
            )
        return headers

    async def count_action(self, action: str, subject: str, rule: str) -> None:
        """Count one `action` by `subject` (an account, an IP) against `rule` ("10/hour");
        429 `rate_limited` with `Retry-After` once the window is used up (the refused attempt
        is not counted)."""
        if not self.enabled:
            return
        quota = _quota(rule)
        result = await self.hot.hit_window(
            f"rl:{action}:{subject}", limit=quota.amount, window=quota.window
        )
        if not result.allowed:
            retry_after = _seconds(result.reset_after)
            raise RateLimited(
                "Too many of these; retry later.",
                headers={
                    "Retry-After": retry_after,
                    "RateLimit-Limit": str(result.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": retry_after,
                },
            )

    async def check_failed_logins(self, ip: str, account: str | None) -> float:
        """Refuse a sign-in attempt (429 `rate_limited`) while the client IP, or this IP for
        this account, has used up its failed-login allowance. Does not count the attempt.

        The account as a whole (failures from every IP) never refuses: a stranger could then
        lock its owner out. While it is over its allowance, the answer is the seconds the
        caller slows this attempt down by (`PP_RATE_LIMIT_FAILED_LOGIN_SLOWDOWN`; callers let
        an attempt that carries a valid second factor through at once); 0 otherwise.
        `account` is compared as given: callers pass it normalised (a lower-cased email)."""
        if not self.enabled:
            return 0.0
        quota = self.failed_logins
        blocking, account_key = self._failed_login_keys(ip, account)
        results = await asyncio.gather(
            *(
                self.hot.peek_window(key, limit=quota.amount, window=quota.window)
                for key in [*blocking, *([account_key] if account_key else [])]
            )
        )
        refused = [r for r in results[: len(blocking)] if not r.allowed]
        if refused:
            raise self._too_many_failures(max(refused, key=lambda r: r.reset_after))
        if account_key and not results[-1].allowed:
            return self.settings.rate_limit_failed_login_slowdown
        return 0.0

    async def record_failed_login(self, ip: str, account: str | None) -> None:
        """Count one failed sign-in against the client IP, the account and IP pair, and the
        account."""
        if not self.enabled:
            return
        quota = self.failed_logins
        blocking, account_key = self._failed_login_keys(ip, account)
        await asyncio.gather(
            *(
                self.hot.hit_window(key, limit=quota.amount, window=quota.window)
                for key in [*blocking, *([account_key] if account_key else [])]
            )
        )

    @staticmethod
    def _failed_login_keys(ip: str, account: str | None) -> tuple[list[str], str | None]:
        """(the windows that refuse: the IP's and the account and IP pair's, the account's
        own window, which only slows down)."""
        if not account:
            return [f"rl:failed_login:ip:{ip}"], None
        return (
            [f"rl:failed_login:ip:{ip}", f"rl:failed_login:pair:{ip}:{account}"],
            f"rl:failed_login:account:{account}",
        )

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


class LocalCounter:
    """This process's share of the hot store's sliding windows (see the module docstring).

    Per key: the window's count as the hot store last reported it, the hits let through here
    since (not yet sent), when it was last reported, and the window's length."""

    def __init__(self, hot: HotStore) -> None:
        self.hot = hot
        # key -> [count, unsent, seen at, window, number of the verdict it came from]
        self._seen: dict[str, list[float]] = {}
        self._asked = 0  # verdicts asked for: a late answer never replaces a fresher one
        self._asking: dict[str, asyncio.Future[WindowResult | None]] = {}
        self._unsent: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
        self._pruned = time.monotonic()

    async def hit(self, key: str, *, limit: int, window: float) -> WindowResult:
        while True:
            result = self.hit_now(key, limit=limit)
            if result is not None:
                return result
            asking = self._asking.get(key)
            if asking is None:
                break
            # One verdict at a time per window: a second one in flight would be answered
            # without the first one's hits, and room counted twice. Wait for it, then decide
            # (shielded: a waiter cancelled, its client gone, must not cancel the answer
            # every other waiter and the asker share).
            verdict = await asyncio.shield(asking)
            if verdict is not None and not verdict.allowed:
                return verdict  # a refusal counts nothing, so it is this hit's answer too
        future: asyncio.Future[WindowResult | None] = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        verdict = None
        try:
            verdict = await self._ask(key, limit=limit, window=window)
            return verdict
        finally:
            del self._asking[key]
            future.set_result(verdict)

    def hit_now(self, key: str, *, limit: int) -> WindowResult | None:
        """The hit let through here, when the local counter may decide it; None when the hot store
        must (nothing counted)."""
        remaining = self.remaining_now(key, limit=limit)
        return None if remaining is None else WindowResult(True, limit, remaining, 0.0)

    def remaining_now(self, key: str, *, limit: int) -> int | None:
        """`hit_now`, as the room left in the window after the hit."""
        seen = self._seen.get(key)
        if seen is None:
            return None
        unsent = seen[1] + 1
        if (
            (unsent <= 1.0 or unsent <= limit * LOCAL_SHARE)
            and seen[0] + unsent <= limit
            and time.monotonic() - seen[2] <= LOCAL_HORIZON_SECONDS
        ):
            seen[1] = unsent
            self._unsent.add(key)
            if self._flush is None:
                self._flush = asyncio.get_running_loop().create_task(
                    self._flush_later(), context=contextvars.Context()
                )
            return int(limit - seen[0] - unsent)
        return None

    async def _ask(self, key: str, *, limit: int, window: float) -> WindowResult:
        """The hot store's own verdict, with this process's unsent hits sent first."""
        self._asked += 1
        asked = self._asked
        seen = self._seen.get(key)
        if seen is not None:
            seen[4] = asked  # answers to what was sent before this are stale from now on
            if seen[1]:
                # Sent hits join the count at once: requests decided here while this call
                # waits must not count them as room.
                unsent, seen[1] = int(seen[1]), 0
                seen[0] += unsent
                await self.hot.count_window_hits([(key, window, unsent)])
        result = await self.hot.hit_window(key, limit=limit, window=window)
        count = limit - result.remaining  # the window's count, this hit included if allowed
        seen = self._seen.get(key)
        if seen is not None and seen[4] > asked:
            # Hits were sent after this was asked: its count may miss them. Keep the count
            # as it stands, with this hit in it.
            seen[0] += 1 if result.allowed else 0
            return result
        # Hits let through here while this call waited stay unsent.
        waiting = seen[1] if seen is not None else 0.0
        self._seen[key] = [float(count), waiting, time.monotonic(), window, float(asked)]
        return result

    async def _flush_later(self) -> None:
        await asyncio.sleep(LOCAL_FLUSH_SECONDS)
        self._flush = None
        await self.flush()

    async def flush(self) -> None:
        """Send the hits let through since the last batch; forget windows gone quiet."""
        now = time.monotonic()
        if now - self._pruned > LOCAL_HORIZON_SECONDS:
            self._pruned = now
            for key in [
                k for k, seen in self._seen.items() if now - seen[2] > LOCAL_HORIZON_SECONDS
            ]:
                if key not in self._unsent:
                    del self._seen[key]
        keys, self._unsent = self._unsent, set()
        batch = []
        self._asked += 1
        asked = self._asked
        for key in keys:
            seen = self._seen.get(key)
            if seen is not None and seen[1]:
                batch.append((key, seen[3], int(seen[1])))
                seen[0] += seen[1]  # counted from now on, as in `_ask`
                seen[1], seen[4] = 0, asked
        if not batch:
            return
        try:
            counts = await self.hot.count_window_hits(batch)
        except Exception as error:  # the hot store is down: those hits go uncounted
            log.warning("rate_limit.local_hits_unsent", hits=len(batch), error=str(error))
            return
        seen_at = time.monotonic()
        for (key, _, _), count in zip(batch, counts, strict=True):
            seen = self._seen.get(key)
            if seen is not None and seen[4] <= asked:
                seen[0], seen[2] = float(count), seen_at

    async def close(self) -> None:
        task, self._flush = self._flush, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
