"""Retries, timeouts and error messages of the model client, against the loopback server over real sockets."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from agent_magic.errors import (
    CircuitOpenError,
    ModelCallError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RetriesExhausted,
    StreamCutError,
)
from agent_magic.llm.breaker import CircuitBreaker
from agent_magic.llm.client import EndpointSettings, ModelClient, ModelResponse, TextPiece
from agent_magic.llm.retry import RetryPolicy, RetryScheduled
from agent_magic.llm.sse_server import ErrorReply, StreamReply, text_chunks

FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, max_total_wait=5.0)
MESSAGES = [{"role": "user", "content": "hi"}]


def make_client(base_url: str, policy: RetryPolicy = FAST, **settings) -> ModelClient:
    return ModelClient(EndpointSettings(model="m", base_url=base_url, api_key="k", **settings), retry=policy)


def collect(client: ModelClient) -> list:
    async def run():
        return [item async for item in client.stream(MESSAGES, [])]

    return asyncio.run(run())


def failure(client: ModelClient) -> ModelCallError:
    with pytest.raises(ModelCallError) as caught:
        collect(client)
    return caught.value


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_until_an_answer_arrives(model_server, script, status):
    script.add_error(status)
    script.add_error(status)
    script.add_text("fine now")

    items = collect(make_client(model_server.base_url))

    response = items[-1]
    assert isinstance(response, ModelResponse) and response.text == "fine now"
    assert response.retries == 2 and model_server.request_count == 3
    assert [type(i).__name__ for i in items if isinstance(i, RetryScheduled)] == ["RetryScheduled"] * 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(model_server, script, status):
    script.add_error(status, message="nope")
    script.add_text("never sent")

    error = failure(make_client(model_server.base_url))

    assert isinstance(error, ModelHTTPError) and error.status == status
    assert model_server.request_count == 1
    assert len(error.attempts) == 1


def test_retry_after_header_sets_the_wait(model_server, script):
    script.add_error(429, retry_after=0.3)
    script.add_text("ok")

    scheduled = [i for i in collect(make_client(model_server.base_url)) if isinstance(i, RetryScheduled)]

    assert [s.wait_s for s in scheduled] == [0.3]


def test_retry_after_ms_header_wins_over_retry_after(model_server, script):
    script.add_error(503, retry_after=5, retry_after_ms=150)
    script.add_text("ok")

    scheduled = [i for i in collect(make_client(model_server.base_url)) if isinstance(i, RetryScheduled)]

    assert [s.wait_s for s in scheduled] == [0.15]


def test_a_retry_after_longer_than_the_total_wait_cap_fails_at_once(model_server, script):
    script.add_error(429, retry_after=30)
    policy = RetryPolicy(max_attempts=4, initial_wait=0.01, max_total_wait=2.0)

    error = failure(make_client(model_server.base_url, policy))

    assert isinstance(error, RetriesExhausted)
    assert "next wait (30.0 s) would pass AgentMagic.retry_max_total_wait (2 s)" in str(error)
    assert model_server.request_count == 1


def test_persistent_server_errors_give_up_after_the_attempt_cap_with_the_history(model_server, script):
    for _ in range(6):
        script.add_error(500, message="boom")

    error = failure(make_client(model_server.base_url))

    assert isinstance(error, RetriesExhausted)
    assert str(error) == f"500 from {model_server.base_url}: boom (gave up after 4 attempts)"
    assert isinstance(error.__cause__, ModelHTTPError)
    assert model_server.request_count == 4
    assert [a.number for a in error.attempts] == [1, 2, 3, 4]
    assert all(a.error_type == "ModelHTTPError" for a in error.attempts)
    assert [a.wait_after_s is not None for a in error.attempts] == [True, True, True, False]


def test_backoff_grows_exponentially_between_attempts(model_server, script):
    for _ in range(4):
        script.add_error(503)
    policy = RetryPolicy(max_attempts=4, initial_wait=0.02, max_wait=10.0)

    waits = [a.wait_after_s for a in failure(make_client(model_server.base_url, policy)).attempts[:3]]

    # initial × 2^n plus up to `initial` of jitter: 0.02–0.04, 0.04–0.06, 0.08–0.10
    for wait, base in zip(waits, [0.02, 0.04, 0.08], strict=True):
        assert base <= wait <= base + 0.02


def test_a_stream_cut_before_any_text_is_retried_silently(model_server, script):
    script.add(StreamReply(text_chunks("lost"), cut_after=1))  # only the role chunk, no text
    script.add_text("complete answer")

    items = collect(make_client(model_server.base_url))

    scheduled = [i for i in items if isinstance(i, RetryScheduled)]
    assert len(scheduled) == 1 and scheduled[0].after_output is False
    assert "".join(i.text for i in items if isinstance(i, TextPiece)) == "complete answer"


def test_a_stream_cut_after_text_restarts_the_answer(model_server, script):
    script.add(StreamReply(text_chunks("one two three four five"), cut_after=4))
    script.add_text("the full answer")

    items = collect(make_client(model_server.base_url))

    restart = next(i for i in items if isinstance(i, RetryScheduled))
    assert restart.after_output is True and "closed the stream" in restart.reason
    after = items[items.index(restart) + 1 :]
    assert "".join(i.text for i in after if isinstance(i, TextPiece)) == "the full answer"
    assert items[-1].text == "the full answer" and items[-1].retries == 1


def test_a_stream_cut_every_time_fails_as_incomplete(model_server, script):
    for _ in range(2):
        script.add(StreamReply(text_chunks("one two three four"), cut_after=3))

    error = failure(make_client(model_server.base_url, RetryPolicy(max_attempts=2, initial_wait=0.01)))

    assert isinstance(error, RetriesExhausted) and isinstance(error.__cause__, StreamCutError)
    assert "gave up after 2 attempts" in str(error)
    assert all(a.shown_output for a in error.attempts)


def test_first_byte_timeout_is_a_clear_retryable_error(model_server, script):
    script.add(StreamReply(text_chunks("late"), first_byte_delay=3))
    script.add_text("on time")

    items = collect(make_client(model_server.base_url, first_byte_timeout=0.3))

    scheduled = next(i for i in items if isinstance(i, RetryScheduled))
    assert scheduled.reason == f"{model_server.base_url} sent nothing within 0.3 s (AgentMagic.first_byte_timeout)"
    assert items[-1].text == "on time"


def test_whole_call_timeout_stops_a_stream_that_never_ends(model_server, script):
    script.add(StreamReply(text_chunks(" ".join(["word"] * 100)), chunk_delay=0.05))

    error = failure(make_client(model_server.base_url, RetryPolicy(max_attempts=1), call_timeout=0.5))

    assert isinstance(error, ModelTimeoutError)
    assert str(error) == f"the call to {model_server.base_url} took longer than 0.5 s (AgentMagic.call_timeout)"


def test_connect_timeout_names_its_setting():
    # A listening socket whose accept queue is full: the kernel drops further SYNs, so connect() hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"

        error = failure(make_client(base_url, RetryPolicy(max_attempts=1), connect_timeout=0.3))

        assert isinstance(error, ModelTimeoutError)
        assert str(error) == f"could not connect to {base_url} in time (AgentMagic.connect_timeout)"
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def test_refused_connection_says_the_endpoint_is_unreachable():
    error = failure(make_client("http://127.0.0.1:9/v1", RetryPolicy(max_attempts=2, initial_wait=0.01)))

    assert isinstance(error, RetriesExhausted) and isinstance(error.__cause__, ModelConnectionError)
    assert str(error).startswith("cannot reach http://127.0.0.1:9/v1 (ConnectError); is the server running?")


def test_bad_key_message_points_at_the_api_key(model_server, script):
    script.add_error(401, message="Incorrect API key provided")

    error = failure(make_client(model_server.base_url))

    assert str(error).startswith(f"401 from {model_server.base_url}: check OPENAI_API_KEY")


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (404, "The model `m` does not exist or you do not have access to it."),
        (404, 'model "m" not found, try pulling it first'),
        (400, "Unknown model: m"),
    ],
)
def test_unknown_model_message_names_the_model(model_server, script, status, detail):
    script.add(ErrorReply(status, detail))

    error = failure(make_client(model_server.base_url))

    assert str(error).startswith(f"unknown model 'm' at {model_server.base_url}: check AgentMagic.model or --model")


def test_an_open_breaker_stops_the_retries_and_fails_fast(model_server, script):
    for _ in range(5):
        script.add_error(503)
    client = make_client(model_server.base_url, RetryPolicy(max_attempts=5, initial_wait=0.01))
    client.breaker = CircuitBreaker(model_server.base_url, threshold=2, cooldown=60)

    error = failure(client)

    assert isinstance(error, CircuitOpenError)
    assert model_server.request_count == 2
    assert "failed 2 times in a row" in str(error) and "AgentMagic.breaker_cooldown" in str(error)


def test_cancelling_during_a_backoff_wait_ends_at_once(model_server, script):
    script.add_error(503, retry_after=30)
    client = make_client(model_server.base_url, RetryPolicy(max_attempts=3, max_total_wait=100))

    async def cancel_while_waiting() -> float:
        async def consume():
            async for _ in client.stream(MESSAGES, []):
                pass

        task = asyncio.ensure_future(consume())
        while model_server.request_count == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # now in the 30 s wait
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(cancel_while_waiting()) < 1.0  # "never hang": generous bound, not a latency test
