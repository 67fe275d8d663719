"""The rate limiter on both hot store adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from playerplatform.kit.errors import RateLimited
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.ratelimit import RateLimiter
from playerplatform.kit.settings import Settings
from tests.kit import ADAPTERS, open_hot_store

PLENTY = "1000/second"


_open: list[RateLimiter] = []


@pytest.fixture(params=ADAPTERS)
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param) as store:
        try:
            yield store
        finally:
            while _open:
                await _open.pop().close()


def limiter(hot: HotStore, **overrides: Any) -> RateLimiter:
    values: dict[str, Any] = {
        "rate_limit_auth": PLENTY,
        "rate_limit_write": PLENTY,
        "rate_limit_read": PLENTY,
        "rate_limit_webhook": PLENTY,
        "rate_limit_failed_login": PLENTY,
    }
    values.update(overrides)
    made = RateLimiter(Settings(**values), hot)
    _open.append(made)
    return made


async def wait_for_room(hot: HotStore, key: str, limit: int, window: float) -> None:
    state = await hot.peek_window(key, limit=limit, window=window)
    await asyncio.sleep(state.reset_after + 0.05)


async def test_headers_count_down_the_allowance(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_auth="3/second")
    seen = [await limits.check("auth", "ip:10.0.0.1") for _ in range(3)]
    assert [h["RateLimit-Remaining"] for h in seen] == ["2", "1", "0"]
    assert {h["RateLimit-Limit"] for h in seen} == {"3"}
    assert all(int(h["RateLimit-Reset"]) >= 1 for h in seen)


async def test_over_the_limit_is_429_with_retry_after(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_write="2/minute")
    for _ in range(2):
        await limits.check("write", "user:alice")
    with pytest.raises(RateLimited) as refused:
        await limits.check("write", "user:alice")
    error = refused.value
    assert error.status == 429 and error.code == "rate_limited"
    assert 1 <= int(error.headers["Retry-After"]) <= 120
    assert error.headers["RateLimit-Limit"] == "2"
    assert error.headers["RateLimit-Remaining"] == "0"
    assert error.headers["RateLimit-Reset"] == error.headers["Retry-After"]


async def test_processes_share_one_window_and_every_hit_reaches_the_store(
    hot: HotStore,
) -> None:
    # Two API processes: each keeps a local counter of its own over the one window in the hot store.
    first, second = (limiter(hot, rate_limit_read="100/minute") for _ in range(2))
    allowed, refusals = 0, []
    for turn in range(160):
        try:
            await (first if turn % 2 else second).check("read", "user:carol")
            allowed += 1
        except RateLimited as refused:
            refusals.append(refused)
    # A refusal is the hot store's own verdict; between two verdicts a process lets through at
    # most 2.5% of the limit, so two processes' shares are the most the limit can be passed by.
    assert 100 <= allowed <= 100 + 5
    assert len(refusals) == 160 - allowed
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refusals)
    assert {r.headers["RateLimit-Remaining"] for r in refusals} == {"0"}
    await first.close()
    await second.close()
    window = await hot.peek_window("rl:read:user:carol", limit=1000, window=60)
    assert abs((1000 - window.remaining) - allowed) <= 1  # no hit let through went uncounted


async def test_a_busy_subject_is_checked_against_the_store_every_share(hot: HotStore) -> None:
    first, second = (limiter(hot, rate_limit_read="1200/minute") for _ in range(2))
    # The first hit asks the hot store; 2.5% of 1200 is 30 hits let through here; the next
    # asks again and sends those 30 first.
    for _ in range(32):
        await first.check("read", "user:dave")
    # The other process's first hit is asked of the hot store, which has seen all 32.
    headers = await second.check("read", "user:dave")
    assert int(headers["RateLimit-Remaining"]) == 1200 - 33


async def test_limit_recovers_after_the_window(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_read="3/second")
    for _ in range(3):
        await limits.check("read", "user:bob")
    with pytest.raises(RateLimited):
        await limits.check("read", "user:bob")
    await wait_for_room(hot, "rl:read:user:bob", 3, 1.0)
    headers = await limits.check("read", "user:bob")
    assert int(headers["RateLimit-Remaining"]) >= 0


async def test_subjects_and_route_classes_have_separate_allowances(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_auth="1/minute", rate_limit_webhook="1/minute")
    await limits.check("auth", "ip:10.0.0.1")
    with pytest.raises(RateLimited):
        await limits.check("auth", "ip:10.0.0.1")
    assert (await limits.check("auth", "ip:10.0.0.2"))["RateLimit-Remaining"] == "0"
    assert (await limits.check("webhook", "ip:10.0.0.1"))["RateLimit-Limit"] == "1"
    assert (await limits.check("read", "ip:10.0.0.1"))["RateLimit-Limit"] == "1000"


async def test_unknown_route_class_is_a_programming_error(hot: HotStore) -> None:
    with pytest.raises(ValueError, match="route class"):
        await limiter(hot).check("everything", "ip:10.0.0.1")


def test_malformed_limit_is_refused_at_start_up(hot: HotStore) -> None:
    with pytest.raises(ValueError):
        limiter(hot, rate_limit_read="lots")


async def test_failed_logins_block_the_ip_for_every_account(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_failed_login="3/minute")
    for account in ("a@example.com", "b@example.com", "c@example.com"):
        await limits.check_failed_logins("10.0.0.9", account)
        await limits.record_failed_login("10.0.0.9", account)
    with pytest.raises(RateLimited) as refused:
        await limits.check_failed_logins("10.0.0.9", "d@example.com")
    assert refused.value.status == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 120
    with pytest.raises(RateLimited):
        await limits.check_failed_logins("10.0.0.9", None)
    # Each account failed only once, so from elsewhere they are still open.
    await limits.check_failed_logins("10.0.0.10", "a@example.com")


async def test_failures_from_every_ip_slow_the_account_down_but_never_lock_it(
    hot: HotStore,
) -> None:
    limits = limiter(hot, rate_limit_failed_login="3/minute", rate_limit_failed_login_slowdown=2.0)
    for ip in ("10.1.0.1", "10.1.0.2", "10.1.0.3"):
        assert await limits.check_failed_logins(ip, "victim@example.com") == 0.0
        await limits.record_failed_login(ip, "victim@example.com")
    # A fourth address (the owner's, say) is let in, after the slowdown.
    assert await limits.check_failed_logins("10.1.0.4", "victim@example.com") == 2.0
    assert await limits.check_failed_logins("10.1.0.4", "someone@example.com") == 0.0
    assert await limits.check_failed_logins("10.1.0.1", None) == 0.0


async def test_failures_refuse_the_account_and_ip_pair(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_failed_login="3/minute")
    for _ in range(3):
        await limits.record_failed_login("10.3.0.1", "owner@example.com")
    with pytest.raises(RateLimited):
        await limits.check_failed_logins("10.3.0.1", "owner@example.com")
    # The pair and the IP are refused; the account from elsewhere is only slowed down.
    assert await limits.check_failed_logins("10.3.0.2", "owner@example.com") > 0


async def test_checking_failed_logins_does_not_count(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_failed_login="2/minute")
    for _ in range(10):
        await limits.check_failed_logins("10.2.0.1", "x@example.com")
    await limits.record_failed_login("10.2.0.1", "x@example.com")
    await limits.check_failed_logins("10.2.0.1", "x@example.com")
    await limits.record_failed_login("10.2.0.1", "x@example.com")
    with pytest.raises(RateLimited):
        await limits.check_failed_logins("10.2.0.1", "x@example.com")


async def test_failed_login_block_lifts_after_the_window(hot: HotStore) -> None:
    limits = limiter(hot, rate_limit_failed_login="2/second")
    for _ in range(2):
        await limits.record_failed_login("10.3.0.1", None)
    with pytest.raises(RateLimited):
        await limits.check_failed_logins("10.3.0.1", None)
    await wait_for_room(hot, "rl:failed_login:ip:10.3.0.1", 2, 1.0)
    await limits.check_failed_logins("10.3.0.1", None)


async def test_disabled_limiter_counts_nothing(hot: HotStore) -> None:
    limits = limiter(
        hot,
        rate_limit_enabled=False,
        rate_limit_auth="1/minute",
        rate_limit_failed_login="1/minute",
    )
    for _ in range(5):
        assert await limits.check("auth", "ip:10.4.0.1") == {}
        await limits.record_failed_login("10.4.0.1", "y@example.com")
        await limits.check_failed_logins("10.4.0.1", "y@example.com")
    assert not await hot.exists("rl:auth:ip:10.4.0.1")


async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_answer(
    hot: HotStore,
) -> None:
    """Requests of one subject that arrive while its window is being asked of the hot store
    wait for that answer; one of them going away (its client hung up) must not take the
    answer from the request asking, nor from the others waiting."""
    limits = limiter(hot, rate_limit_read="1000/second")
    asking = asyncio.create_task(limits.check("read", "ip:10.0.0.9"))
    await asyncio.sleep(0)  # it is asking the hot store now
    gone = asyncio.create_task(limits.check("read", "ip:10.0.0.9"))
    waiting = asyncio.create_task(limits.check("read", "ip:10.0.0.9"))
    await asyncio.sleep(0)  # both wait for its answer
    gone.cancel()
    answers = await asyncio.gather(asking, waiting)
    assert [a["RateLimit-Limit"] for a in answers] == ["1000", "1000"]
    await asyncio.gather(gone, return_exceptions=True)
