"""Flow control: the adaptive limit backs off on 429s and grows back; rate limits pace calls."""

from __future__ import annotations

import asyncio
import time

from welfare.run.limits import AdaptiveLimit, RateLimiter


def test_adaptive_limit_caps_in_flight_and_halves_on_rate_limit():
    limit = AdaptiveLimit(8)
    peak = 0

    async def hold() -> None:
        nonlocal peak
        async with limit:
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(hold() for _ in range(40)))

    asyncio.run(main())
    assert peak == 8
    limit.rate_limited()
    limit.rate_limited()  # within a second: one burst counts once
    assert limit.limit == 4.0 and limit.backoffs == 1
    peak = 0
    asyncio.run(main())
    assert peak == 4


def test_adaptive_limit_grows_back_by_about_one_per_window():
    limit = AdaptiveLimit(16, start=4)
    for _ in range(4):
        limit.success()
    assert 4.9 < limit.limit < 5.0
    for _ in range(1000):
        limit.success()
    assert limit.limit == 16


def test_rate_limiter_paces_requests_beyond_a_minutes_allowance():
    limiter = RateLimiter(requests_per_minute=600)  # 10 per second, burst of 600

    async def main() -> float:
        start = time.monotonic()
        for _ in range(604):
            await limiter.acquire(0)
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert 0.3 <= elapsed < 1.5


def test_token_limiter_settles_the_real_cost():
    limiter = RateLimiter(tokens_per_minute=6000)  # 100 tokens per second

    async def main() -> float:
        await limiter.acquire(100)
        limiter.settle(100, 6000)  # the call used far more than estimated
        start = time.monotonic()
        await limiter.acquire(50)
        return time.monotonic() - start

    assert asyncio.run(main()) >= 0.5
