"""The kernel's limits on model requests, shared by every session: how many may be under way at once,
and (when set) how many may start per second.

Requests of one conversation follow each other: each waits for the previous answer, so the endpoint's
own speed paces them, and a notebook run with "Run All" against a fast local server is never slowed
down. What can flood a shared endpoint from one kernel is requests *at the same time* (sessions run in
parallel, agents started in a loop): `max_concurrent_requests` caps those, and the rest queue in
arrival order. A server that is over its limits says so with 429 and Retry-After, which every call
honours (`retry.py`). `requests_per_second` adds a fixed ceiling for endpoints with a quota but no
429s (a token bucket; 0: none).

Waits are `asyncio` waits: an interrupted one gives back its place and its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable


class TokenBucket:
    """Requests-per-second limiter. `rate <= 0` turns it off.

    Each request takes one token; tokens refill at `rate` per second up to `burst`. A request that finds
    the bucket empty reserves the next token and sleeps until it is due, so concurrent callers are
    served in arrival order.

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


class RequestLimiter:
    """At most `max_concurrent` requests under way at once (0: no cap), and the `TokenBucket` rate.

    A request holds its place from `slot()`'s entry to its exit; one that finds every place taken waits
    for one, first come first served. Safe to use from several event loops (a cell run without
    autoawait runs its turn on a loop of its own): places are counted under a lock, and a waiter is
    woken on its own loop.

    Example:
        >>> limiter = RequestLimiter(max_concurrent=4)
        >>> # async with limiter.slot():   # the fifth concurrent request waits here
        >>> #     ... send the request and read the whole answer ...
    """

    def __init__(
        self, *, rate: float = 0.0, burst: int = 1, max_concurrent: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bucket = TokenBucket(rate, burst, clock=clock)
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """Requests per second allowed (0: no fixed ceiling)."""
        return self.bucket.rate

    def configure(self, *, rate: float, burst: int, max_concurrent: int) -> None:
        """Change the limits (from `%config`); requests under way keep their places, waiters move up."""
        self.bucket.configure(rate, burst)
        with self._lock:
            self.max_concurrent = max_concurrent
            self._hand_over()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one place for a request (waiting for it when all are taken), then its rate token."""
        await self._enter()
        try:
            await self.bucket.acquire()
            yield
        finally:
            self._leave()

    def _has_room(self) -> bool:
        return self.max_concurrent <= 0 or self.in_flight < self.max_concurrent

    async def _enter(self) -> None:
        with self._lock:
            if not self._waiters and self._has_room():
                self.in_flight += 1
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    granted = False
                else:
                    granted = True  # given a place as it was cancelled: pass the place on
            if granted:
                self._leave()
            raise

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self._hand_over()

    def _hand_over(self) -> None:
        """Give free places to the longest waiting (called with the lock held)."""
        while self._waiters and self._has_room():
            waiter = self._waiters.popleft()
            try:
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # its loop has closed: nobody is waiting there any more
                continue
            self.in_flight += 1


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
