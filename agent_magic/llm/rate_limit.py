"""A client-side token bucket on model requests per second, shared by every session in the kernel.

Each request takes one token; tokens refill at `rate` per second up to `burst`. A request that finds
the bucket empty reserves the next token and sleeps until it is due, so concurrent callers are served
in arrival order. The sleep is an `asyncio.sleep`: an interrupted wait gives its token back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """Requests-per-second limiter. `rate <= 0` turns it off.

    Example:
        >>> bucket = TokenBucket(rate=2.0, burst=1)
        >>> # await bucket.acquire()   # the first call passes; the next waits about 0.5 s
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._updated = clock()

    def configure(self, rate: float, burst: int) -> None:
        """Change the limits (from `%config`) without forgetting the tokens already spent."""
        self._refill()
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = min(self._tokens, float(self.burst))

    def _refill(self) -> None:
        now = self._clock()
        if self.rate > 0:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self) -> float:
        """Take a token now (possibly on credit) and return the seconds until it may be used."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        delay = self.reserve()
        if delay <= 0:
            return 0.0
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._tokens += 1  # the request was never sent: its token goes back
            raise
        return delay
