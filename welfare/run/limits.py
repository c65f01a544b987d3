"""Flow control for model calls: an adaptive concurrency limit and per-minute rate limits.

`AdaptiveLimit` is additive-increase / multiplicative-decrease (as in TCP congestion control):
a 429 halves the number of requests allowed in flight, each success grows it back by about
one per window, up to the configured ceiling. `RateLimiter` is a token bucket for requests per
minute and tokens per minute; token costs are only known after a call, so it charges an
estimate up front and settles the difference afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveLimit:
    """An asyncio semaphore whose size backs off on rate limits and grows back on success."""

    def __init__(self, ceiling: int, *, floor: int = 1, start: int | None = None) -> None:
        self.ceiling = ceiling
        self.floor = max(1, min(floor, ceiling))
        self.limit = float(start if start is not None else ceiling)
        self.in_flight = 0
        self.backoffs = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_backoff = 0.0

    async def __aenter__(self) -> AdaptiveLimit:
        while self.in_flight >= int(self.limit):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future in self._waiters:
                    self._waiters.remove(future)
                raise
        self.in_flight += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = int(self.limit) - self.in_flight
        while free > 0 and self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                free -= 1

    def success(self) -> None:
        """Grow by 1/limit: about one more slot per window of successful calls."""
        if self.limit < self.ceiling:
            self.limit = min(self.ceiling, self.limit + 1.0 / self.limit)
            self._wake()

    def rate_limited(self) -> None:
        """Halve the limit, at most once per second (one burst of 429s is one signal)."""
        now = time.monotonic()
        if now - self._last_backoff >= 1.0:
            self._last_backoff = now
            self.limit = max(float(self.floor), self.limit / 2)
            self.backoffs += 1


class RateLimiter:
    """Token buckets for requests per minute and tokens per minute (either may be None)."""

    def __init__(
        self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
    ) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        now = time.monotonic()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait until one request and `estimated_tokens` tokens fit in the buckets."""
        while True:
            now = time.monotonic()
            waits = [
                b.wait_for(cost, now)
                for b, cost in ((self._requests, 1.0), (self._tokens, float(estimated_tokens)))
                if b
            ]
            wait = max(waits, default=0.0)
            if wait <= 0:
                for bucket, cost in (
                    (self._requests, 1.0),
                    (self._tokens, float(estimated_tokens)),
                ):
                    if bucket:
                        bucket.take(cost, now)
                return
            await asyncio.sleep(wait)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Charge (or refund) the difference between the estimate and the real token count."""
        if self._tokens:
            self._tokens.take(float(actual_tokens - estimated_tokens), time.monotonic())


class _Bucket:
    """A token bucket holding at most one minute's allowance."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, cost: float, now: float) -> float:
        self._refill(now)
        need = min(cost, self.capacity) - self.level
        return max(0.0, need / self.rate)

    def take(self, cost: float, now: float) -> None:
        self._refill(now)
        self.level -= cost
