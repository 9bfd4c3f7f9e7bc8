"""Retrying a streamed model call: which failures are retried, how long to wait, when to give up.

tenacity decides (retry predicate, exponential backoff with jitter, a cap on attempts and on total
waiting); this module runs the attempts. Two things tenacity cannot do for a stream are done here:

- the wait is announced *before* it starts (the caller yields a `RetryScheduled` item so the cell can
  say "retrying in 2 s"), then slept with `asyncio.sleep`, so a kernel interrupt ends it at once;
- an attempt that already showed text is not retried silently: the item says `after_output`, and the
  caller replaces the partial answer instead of splicing a second answer onto the first.

A server's `Retry-After` / `retry-after-ms` overrides the computed backoff.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

from agent_magic.config import setting
from agent_magic.errors import CircuitOpenError, ModelCallError, RetriesExhausted

Item = TypeVar("Item")


@dataclass(frozen=True)
class RetryPolicy:
    """How a model call is retried (the `AgentMagic.retry_*` settings).

    `max_attempts` counts the first try; `max_total_wait` caps the seconds spent waiting between
    attempts, all told (a Retry-After longer than what is left ends the retries at once).
    """

    max_attempts: int = setting("retry_max_attempts")
    initial_wait: float = setting("retry_initial_wait")
    max_wait: float = setting("retry_max_wait")
    max_total_wait: float = setting("retry_max_total_wait")


# One attempt, no retries: what a bare `ModelClient` does unless given a policy (the runtime passes the
# configured one).
SINGLE_ATTEMPT = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a model call: when, how long, how it ended, and the wait that followed it."""

    number: int
    started_at: float
    duration_s: float
    error: str | None = None
    error_type: str | None = None
    shown_output: bool = False
    wait_after_s: float | None = None
    sent: bool = True  # False: refused before any request left (an open circuit breaker)

    def describe(self) -> str:
        """One line for `%agent last-error`."""
        outcome = "ok" if self.error is None else f"{self.error_type}: {self.error}"
        when = time.strftime("%H:%M:%S", time.localtime(self.started_at))
        wait = f"; waited {self.wait_after_s:.2f} s" if self.wait_after_s is not None else ""
        shown = " (after output was shown)" if self.shown_output else ""
        return f"attempt {self.number} at {when}, {self.duration_s:.2f} s: {outcome}{shown}{wait}"


@dataclass(frozen=True)
class RetryScheduled:
    """A failed attempt will be retried after `wait_s` seconds. `after_output`: it had shown text,
    which the caller must discard (the next attempt starts the answer again)."""

    attempt: int
    max_attempts: int
    wait_s: float
    reason: str
    after_output: bool


@dataclass
class AttemptLog:
    """The attempts of one model call, in order; an attempt is logged once it has ended."""

    records: list[AttemptRecord] = field(default_factory=list)


def is_retryable(exc: BaseException) -> bool:
    """True for failures worth another try: 408/409/429/5xx, connection errors, timeouts, cut streams.
    Never 400/401/403/404/422: the same request would fail the same way."""
    return isinstance(exc, ModelCallError) and exc.retryable


class _wait_retry_after_or(tenacity.wait.wait_base):
    """The server's Retry-After when it sent one, else the fallback backoff."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return max(0.0, float(asked))
        return self.fallback(retry_state)


class _stop_when_waiting_exceeds(tenacity.stop.stop_base):
    """Stop when the next wait would take the total time spent waiting past `limit` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.limit


def _retrying(policy: RetryPolicy, planned_waits: list[float]) -> tenacity.Retrying:
    """tenacity as the decision engine. Its `sleep` only records the wait: the caller announces it and
    sleeps asynchronously (tenacity's own async sleep would happen where nothing can be yielded)."""
    # initial, 2×, 4×… up to max_wait, plus up to `initial_wait` of jitter so clients do not retry in step.
    backoff = tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait) + tenacity.wait_random(
        0, policy.initial_wait
    )
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=_wait_retry_after_or(backoff),
        stop=tenacity.stop_after_attempt(policy.max_attempts) | _stop_when_waiting_exceeds(policy.max_total_wait),
        sleep=planned_waits.append,
        reraise=True,
    )


def _gave_up(error: ModelCallError, log: AttemptLog, policy: RetryPolicy, next_wait: float) -> RetriesExhausted:
    """The error a call ends with once retrying stops: the last cause, and why we stopped."""
    attempts = len(log.records)
    if attempts < policy.max_attempts:
        why = (
            f"gave up after {attempts} attempt{'s' * (attempts != 1)}: the next wait ({next_wait:.1f} s) "
            f"would pass AgentMagic.retry_max_total_wait ({policy.max_total_wait:g} s)"
        )
    else:
        why = f"gave up after {attempts} attempts"
    return RetriesExhausted(f"{error} ({why})")


async def retrying_stream(
    attempt: Callable[[], AsyncIterator[Item]],
    policy: RetryPolicy,
    log: AttemptLog,
    *,
    is_output: Callable[[Any], bool],
) -> AsyncIterator[Item | RetryScheduled]:
    """Run `attempt()` (a fresh stream each time) until one finishes, yielding its items as they come.

    Between attempts yields a `RetryScheduled`, then waits. Raises the error itself when it is not worth
    retrying, or `RetriesExhausted` (caused by the last error) once the policy says stop; either way the
    raised error's `attempts` holds the history also kept in `log`.
    """
    planned_waits: list[float] = []
    retrying = _retrying(policy, planned_waits)
    state: tenacity.RetryCallState | None = None
    try:
        for manager in retrying:
            state = manager.retry_state
            if planned_waits:
                wait = planned_waits.pop()
                previous = log.records[-1] = dataclasses.replace(log.records[-1], wait_after_s=wait)
                yield RetryScheduled(
                    previous.number, policy.max_attempts, wait, previous.error or "", previous.shown_output
                )
                await asyncio.sleep(wait)
            started, clock, shown = time.time(), time.monotonic(), False
            try:
                async for item in attempt():
                    shown = shown or is_output(item)
                    yield item
            except ModelCallError as exc:
                log.records.append(
                    AttemptRecord(
                        state.attempt_number,
                        started,
                        time.monotonic() - clock,
                        str(exc),
                        type(exc).__name__,
                        shown,
                        sent=not isinstance(exc, CircuitOpenError),
                    )
                )
                # Only ModelCallError is handed to tenacity: a cancellation or a bug of ours propagates
                # untouched instead of being judged for a retry.
                state.set_exception(sys.exc_info())  # type: ignore[arg-type]
                continue
            log.records.append(
                AttemptRecord(state.attempt_number, started, time.monotonic() - clock, shown_output=shown)
            )
            return
    except ModelCallError as exc:  # tenacity re-raised the last attempt's error: no (more) retries
        retried = is_retryable(exc) and policy.max_attempts > 1
        error = _gave_up(exc, log, policy, state.upcoming_sleep if state else 0.0) if retried else exc
        error.attempts = tuple(log.records)
        if error is exc:
            raise
        raise error from exc
