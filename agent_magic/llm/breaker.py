"""A circuit breaker per model endpoint: after N failed calls in a row, fail fast for a cool-down.

States: closed (calls pass; failures are counted) → open (every call fails at once with
`CircuitOpenError`, saying for how long) → after the cool-down, half-open (one trial call passes; its
success closes the breaker, its failure opens it again for another cool-down).

Only failures that say something about the endpoint's health count: the retryable ones (5xx, 429,
connection errors, timeouts, cut streams). A 400/401/404 means the endpoint answered; it neither counts
nor resets the count.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from agent_magic.errors import CircuitOpenError, ModelCallError


class BreakerState(enum.StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one endpoint.

    Example:
        >>> breaker = CircuitBreaker("http://127.0.0.1:8000/v1", threshold=5, cooldown=30)
        >>> breaker.before_call()        # raises CircuitOpenError while open
        >>> breaker.record_success()
    """

    def __init__(
        self, endpoint: str, *, threshold: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.endpoint = endpoint
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.last_error = ""
        self._opened_at = 0.0
        self._trial_running = False

    def before_call(self) -> None:
        """Let a call through, or raise `CircuitOpenError` saying why and for how long."""
        if self.state is BreakerState.CLOSED:
            return
        remaining = self._opened_at + self.cooldown - self._clock()
        if self.state is BreakerState.OPEN and remaining <= 0:
            self.state = BreakerState.HALF_OPEN
        if self.state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True  # this call is the trial; others fail fast until it ends
            return
        wait = f"{remaining:.0f} s more" if remaining > 0 else "until a trial call ends"
        raise CircuitOpenError(
            f"not calling {self.endpoint}: it failed {self.failures} times in a row (last: {self.last_error}); "
            f"calls fail fast for {wait} (AgentMagic.breaker_cooldown)"
        )

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self.state, self.failures, self._trial_running = BreakerState.CLOSED, 0, False

    def record_failure(self, error: ModelCallError) -> None:
        """A call failed; health failures count toward opening (or re-open after a failed trial)."""
        trial, self._trial_running = self._trial_running, False
        if not error.retryable:
            return
        self.failures += 1
        self.last_error = str(error)
        if trial or self.failures >= self.threshold:
            self.state, self._opened_at = BreakerState.OPEN, self._clock()

    def abandon(self) -> None:
        """A call ended with neither outcome (cancelled): a trial slot it held is free again."""
        self._trial_running = False


class BreakerBoard:
    """The breakers of every endpoint this kernel calls (shared by all sessions), all with one setting."""

    def __init__(self, *, threshold: int, cooldown: float) -> None:
        self._breakers: dict[str, CircuitBreaker] = {}
        self.threshold, self.cooldown = threshold, cooldown

    def configure(self, *, threshold: int, cooldown: float) -> None:
        """Apply new settings (from `%config`) to every breaker, keeping their state."""
        self.threshold, self.cooldown = threshold, cooldown
        for breaker in self._breakers.values():
            breaker.threshold, breaker.cooldown = threshold, cooldown

    def for_endpoint(self, endpoint: str) -> CircuitBreaker:
        """The endpoint's breaker, created on first use."""
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = self._breakers[endpoint] = CircuitBreaker(
                endpoint, threshold=self.threshold, cooldown=self.cooldown
            )
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Each endpoint's state (for `%agent config`-style inspection)."""
        return {endpoint: breaker.state for endpoint, breaker in self._breakers.items()}
