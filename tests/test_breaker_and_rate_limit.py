"""The circuit breaker's states and the token bucket's arithmetic, on a clock the test turns by hand."""

from __future__ import annotations

import asyncio

import pytest

from agent_magic.config import AgentMagic
from agent_magic.errors import CircuitOpenError, ModelHTTPError, StreamCutError
from agent_magic.llm.breaker import BreakerBoard, BreakerState, CircuitBreaker
from agent_magic.llm.rate_limit import TokenBucket
from agent_magic.runtime import AgentRuntime


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


SERVER_ERROR = ModelHTTPError("503 from x", status=503)


def opened_breaker(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    breaker = CircuitBreaker("http://x/v1", threshold=threshold, cooldown=30, clock=clock)
    for _ in range(threshold):
        breaker.before_call()
        breaker.record_failure(SERVER_ERROR)
    return breaker


def test_breaker_opens_after_threshold_consecutive_failures():
    clock = Clock()
    breaker = CircuitBreaker("http://x/v1", threshold=3, cooldown=30, clock=clock)
    for _ in range(2):
        breaker.record_failure(SERVER_ERROR)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(StreamCutError("cut"))
    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker("http://x/v1", threshold=3, clock=Clock())
    breaker.record_failure(SERVER_ERROR)
    breaker.record_failure(SERVER_ERROR)
    breaker.record_success()
    breaker.record_failure(SERVER_ERROR)
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 1


def test_client_errors_do_not_count_toward_opening():
    breaker = CircuitBreaker("http://x/v1", threshold=1, clock=Clock())
    breaker.record_failure(ModelHTTPError("401 from x", status=401))
    assert breaker.state is BreakerState.CLOSED


def test_an_open_breaker_fails_fast_saying_how_long():
    clock = Clock()
    breaker = opened_breaker(clock)
    clock.now += 10
    with pytest.raises(CircuitOpenError, match=r"failed 3 times in a row .* fail fast for 20 s more"):
        breaker.before_call()


def test_after_the_cooldown_one_trial_passes_and_its_success_closes_the_breaker():
    clock = Clock()
    breaker = opened_breaker(clock)
    clock.now += 31
    breaker.before_call()  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError, match="until a trial call ends"):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_a_failed_trial_opens_the_breaker_for_another_cooldown():
    clock = Clock()
    breaker = opened_breaker(clock)
    clock.now += 31
    breaker.before_call()
    breaker.record_failure(SERVER_ERROR)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match="30 s more"):
        breaker.before_call()


def test_a_cancelled_trial_frees_the_trial_slot():
    clock = Clock()
    breaker = opened_breaker(clock)
    clock.now += 31
    breaker.before_call()
    breaker.abandon()
    breaker.before_call()  # a new trial may start


def test_board_keeps_one_breaker_per_endpoint_and_applies_new_settings_to_all():
    board = BreakerBoard(threshold=5, cooldown=30)
    first = board.for_endpoint("http://a/v1")
    other = board.for_endpoint("http://b/v1")
    assert board.for_endpoint("http://a/v1") is first and first is not other
    board.configure(threshold=2, cooldown=5)
    assert (first.threshold, first.cooldown) == (other.threshold, other.cooldown) == (2, 5)
    assert board.for_endpoint("http://c/v1").threshold == 2


def test_bucket_allows_a_burst_then_spaces_requests_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=4.0, burst=2, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]
    clock.now += 1.0  # 4 tokens refill; 2 were owed
    assert bucket.reserve() == 0.0


def test_bucket_with_rate_zero_never_waits():
    bucket = TokenBucket(rate=0, burst=1, clock=Clock())
    assert [bucket.reserve() for _ in range(100)] == [0.0] * 100


def test_bucket_reconfigure_caps_the_stored_tokens():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=10, clock=clock)
    bucket.configure(rate=1, burst=1)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 1.0


def test_cancelled_wait_gives_the_token_back():
    bucket = TokenBucket(rate=1.0, burst=1, clock=Clock())

    async def scenario() -> float:
        await bucket.acquire()
        waiter = asyncio.ensure_future(bucket.acquire())
        await asyncio.sleep(0)  # the waiter reserves the next token and starts waiting
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return bucket.reserve()

    # The clock stands still: with the refund the next request owes one token (1 s), without it two.
    assert asyncio.run(scenario()) == 1.0


def test_every_session_of_a_kernel_shares_one_limiter_and_one_breaker_per_endpoint(tmp_path):
    config = AgentMagic(base_url="http://127.0.0.1:9/v1", workspace=str(tmp_path), requests_per_second=2)
    runtime = AgentRuntime(config, {})
    first = runtime.client_for("model-a")
    runtime.new_session()
    second = runtime.client_for("model-b")
    assert first.limiter is second.limiter is runtime.rate_limiter
    assert first.breaker is second.breaker
    assert runtime.rate_limiter.rate == 2


def test_shared_limiter_spaces_requests_from_concurrent_callers():
    bucket = TokenBucket(rate=20.0, burst=1, clock=Clock())

    async def three_callers() -> list[float]:
        return await asyncio.gather(*(bucket.acquire() for _ in range(3)))

    assert sorted(asyncio.run(three_callers())) == [0.0, 0.05, 0.1]  # each waited for its own token
