"""The model client: one streamed Chat Completions call to any OpenAI-compatible endpoint.

It wraps `openai.AsyncOpenAI` (imported on first use, so loading the extension stays fast), turns the
SDK's exceptions into agent_magic's small error hierarchy with one-line messages, and refuses to treat a
stream without `finish_reason` as a complete answer.

Around each attempt: the kernel-wide request limits (`rate_limit.py`), the endpoint's circuit breaker
(`breaker.py`), and the first-byte and whole-call time limits; around the attempts, the retry policy
(`retry.py`). The SDK's own retries are off, so every attempt is ours and is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agent_magic.config import setting
from agent_magic.errors import (
    ContextWindowExceeded,
    MalformedStreamError,
    ModelCallError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    StreamCutError,
    StreamStalledError,
)
from agent_magic.llm.breaker import CircuitBreaker
from agent_magic.llm.context_errors import context_overflow
from agent_magic.llm.model import ModelResponse, StreamItem, TextPiece
from agent_magic.llm.rate_limit import RequestLimiter
from agent_magic.llm.response_guard import response_guard
from agent_magic.llm.retry import SINGLE_ATTEMPT, AttemptLog, RetryPolicy, retrying_stream
from agent_magic.llm.stream import ChunkAccumulator, MalformedChunk
from agent_magic.policy.secrets import mask_secrets, register_secret


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how to call the model. `None` for base_url/api_key means: as the openai SDK decides
    (the `OPENAI_BASE_URL` / `OPENAI_API_KEY` environment variables)."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    connect_timeout: float = setting("connect_timeout")
    idle_timeout: float = setting("idle_timeout")
    first_byte_timeout: float = setting("first_byte_timeout")
    call_timeout: float = setting("call_timeout")
    stream_idle_timeout: float = setting("stream_idle_timeout")
    max_response_mb: float = setting("max_response_mb")


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms` or `Retry-After`), if it said."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    seconds = headers.get("retry-after")
    try:
        return float(seconds) if seconds else None
    except ValueError:
        return None  # an HTTP date: rare from model servers, treat as unspecified


def _error_detail(body: Any) -> str:
    """The server's own error message from an OpenAI-style body ({"error": {"message": ...}})."""
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(error or "")


def translate_error(exc: Exception, *, base_url: str, model: str) -> ModelCallError:
    """Turn an openai/httpx exception into a `ModelCallError` whose message names the cause and the fix,
    with credentials masked (a server may echo the Authorization header in its error body)."""
    error = _translate(exc, base_url=mask_secrets(base_url), model=model)
    error.args = (mask_secrets(str(error)),)
    return error


def _translate(exc: Exception, *, base_url: str, model: str) -> ModelCallError:
    import httpx
    import openai

    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        # By class name: the SDK's transport may be httpx or its fork httpx2, whose classes differ.
        if {"ConnectTimeout", "PoolTimeout"} & {type(e).__name__ for e in _cause_chain(exc)}:
            return ModelTimeoutError(f"could not connect to {base_url} in time (AgentMagic.connect_timeout)")
        return ModelTimeoutError(f"{base_url} went silent mid-call (AgentMagic.idle_timeout)")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _error_detail(exc.body)
        if status in (400, 404) and _names_unknown_model(detail, model):
            return ModelHTTPError(
                f"unknown model {model!r} at {base_url}: check AgentMagic.model or --model ({detail[:120]})",
                status=status,
            )
        overflow = context_overflow(status, detail, exc.body)
        if overflow is not None:
            window = f" ({overflow.window:,} tokens)" if overflow.window else ""
            return ContextWindowExceeded(
                f"{status} from {base_url}: the conversation is longer than {model}'s context window{window}; "
                "start a fresh one (%agent reset or --new), compact it (%agent compact) or use a larger model",
                status=status,
                window=overflow.window,
                prompt_tokens=overflow.prompt_tokens,
            )
        hints = {
            401: "check OPENAI_API_KEY (or %config AgentMagic.api_key)",
            403: "the key is not allowed to use this model or endpoint",
            404: f"is the model name {model!r} right, and does the base URL end in /v1?",
            429: "rate limited or out of quota",
        }
        hint = hints.get(status, detail[:200] or "see %agent last-error")
        message = f"{status} from {base_url}: {hint}"
        return ModelHTTPError(message, status=status, retry_after=_retry_after(exc.response.headers))
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        cause = exc.__cause__ or exc
        return ModelConnectionError(
            f"cannot reach {base_url} ({type(cause).__name__}); is the server running? "
            "(AgentMagic.base_url / OPENAI_BASE_URL)"
        )
    return ModelCallError(f"{type(exc).__name__} talking to {base_url}: {exc}")


def _cause_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions that caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _rejects_response_format(exc: Exception) -> bool:
    """Does the server refuse the request because of its `response_format` (a server without structured
    output, or a schema its strict mode cannot take)?"""
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return False
    detail = _error_detail(exc.body).lower()
    return "response_format" in detail or "json_schema" in detail


def _names_unknown_model(detail: str, model: str) -> bool:
    """Does a 400/404 body say the model does not exist? (OpenAI, Ollama, vLLM, LiteLLM word it alike.)"""
    text = detail.lower()
    return ("model" in text or model.lower() in text) and any(
        phrase in text for phrase in ("not found", "does not exist", "unknown model", "no such model", "not exist")
    )


def _post_streaming(sdk: Any, request: dict[str, Any]) -> Any:
    """Send a streamed Chat Completions request; the stream yields each chunk as decoded JSON.

    The SDK's `chat.completions.create` turns every chunk into pydantic models (about 0.2 ms a chunk,
    most of the CPU a long answer costs) and walks the whole request through its type transforms; the
    `ChunkAccumulator` reads plain dicts as well, so the request goes through the SDK's documented
    `post` for other endpoints instead: same client (auth, base URL, timeouts, transport), same SSE
    decoding and in-stream error events, same exceptions, without the models.
    """
    from openai import AsyncStream

    return sdk.post("/chat/completions", body=request, cast_to=object, stream=True, stream_cls=AsyncStream[object])


class ModelClient:
    """Streams model calls to one endpoint, with retries, a circuit breaker and a rate limit.

    Example:
        >>> client = ModelClient(EndpointSettings(model="demo", base_url="http://127.0.0.1:8000/v1", api_key="x"))
        >>> # async for item in client.stream(messages, tools): ...
    """

    def __init__(
        self,
        settings: EndpointSettings,
        *,
        retry: RetryPolicy = SINGLE_ATTEMPT,
        breaker: CircuitBreaker | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self.breaker = breaker
        self.limiter = limiter
        self._sdk: Any = None
        register_secret(settings.api_key)  # masked wherever text is masked, even if not in the environment
        # Cleared when the endpoint refused a `response_format`: the schema then travels in the
        # instructions only (see structured.py), and the request is not refused again.
        self.sends_response_format = True

    def _sdk_client(self) -> Any:
        if self._sdk is None:
            import httpx
            from openai import AsyncOpenAI, DefaultAsyncHttpxClient

            # The read timeout is the idle limit (silence between bytes); first-byte and whole-call
            # limits are enforced around the stream in `_attempt`, where they can say which one fired.
            timeout = httpx.Timeout(self.settings.idle_timeout, connect=self.settings.connect_timeout)
            guard = response_guard(int(self.settings.max_response_mb * 1_000_000))
            # max_retries=0: retries are ours (tenacity), so attempts are counted once and never multiplied.
            self._sdk = AsyncOpenAI(
                api_key=self.settings.api_key,
                base_url=self.settings.base_url,
                max_retries=0,
                timeout=timeout,
                http_client=DefaultAsyncHttpxClient(timeout=timeout, event_hooks={"response": [guard]}),
            )
        return self._sdk

    @property
    def shown_url(self) -> str:
        """The endpoint as messages show it: credentials in the URL masked."""
        return mask_secrets(self.base_url)

    @property
    def base_url(self) -> str:
        """The endpoint actually used (after the SDK's environment defaults)."""
        return str(self._sdk_client().base_url).rstrip("/")

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Send the request, retrying as the policy allows; yield `TextPiece`s as they arrive, a
        `RetryScheduled` before each retry, and finally one `ModelResponse` (with `retries`).

        Raises `ModelCallError` (or a subclass) when the call fails for good; its `attempts` holds the
        history. Cancelling the caller closes the HTTP stream and ends any wait at once.
        """
        log = AttemptLog()
        async for item in retrying_stream(
            lambda: self._guarded_attempt(messages, tools, response_format),
            self.retry,
            log,
            is_output=lambda item: isinstance(item, TextPiece),
        ):
            if isinstance(item, ModelResponse):
                # Yielded before its own attempt is logged: every record so far is a failed attempt.
                item = dataclasses.replace(item, retries=len(log.records))
            yield item

    async def _guarded_attempt(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], response_format: dict[str, Any] | None
    ) -> AsyncIterator[TextPiece | ModelResponse]:
        """One attempt behind the rate limiter and the circuit breaker (which learns its outcome)."""
        async with self.limiter.slot() if self.limiter is not None else contextlib.nullcontext():
            breaker = self.breaker
            if breaker is not None:
                breaker.before_call()
            settled = False
            try:
                async for item in self._attempt(messages, tools, response_format):
                    yield item
            except ModelCallError as exc:
                settled = True
                if breaker is not None:
                    breaker.record_failure(exc)
                raise
            finally:
                if breaker is not None and not settled:
                    breaker.abandon()  # cancelled: no verdict; a no-op unless this was a half-open trial
            if breaker is not None:
                breaker.record_success()

    async def _attempt(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], response_format: dict[str, Any] | None
    ) -> AsyncIterator[TextPiece | ModelResponse]:
        """Send one request; yield `TextPiece`s as they arrive, then one `ModelResponse`.

        Raises `ModelCallError` on any failure, including a stream that ends without a finish_reason
        and the first-byte and whole-call limits.
        """
        started = time.monotonic()
        call_deadline = started + self.settings.call_timeout
        first_deadline = min(started + self.settings.first_byte_timeout, call_deadline)
        first_token_at: float | None = None
        accumulator = ChunkAccumulator()
        request: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
        if response_format is not None and self.sends_response_format:
            request["response_format"] = response_format
        stream = await self._open(request, first_deadline)
        got_chunk = False
        watch: _StallWatch | None = None
        try:
            # One deadline scope for the whole stream, moved from the first-byte limit to the whole-call
            # limit when the first chunk arrives: a scope per chunk cost ~10% of a fast stream. The
            # generator yields inside the scope, which is safe here because every consumer up to the
            # magic handles a piece synchronously and comes straight back to this loop's next await.
            # Once the answer has started, a watchdog ends the scope early after stream_idle_timeout
            # of silence; a chunk only stamps the time.
            async with asyncio.timeout_at(self._loop_time(first_deadline)) as scope:
                async for chunk in stream:
                    if not got_chunk:
                        got_chunk = True
                        scope.reschedule(self._loop_time(call_deadline))
                    text = accumulator.add(chunk)
                    if first_token_at is None and accumulator.has_output:
                        first_token_at = time.monotonic()
                        watch = _StallWatch(scope, self.settings.stream_idle_timeout)
                    if watch is not None:
                        watch.last = time.monotonic()
                    if text:
                        yield TextPiece(text)
        except TimeoutError:
            if watch is not None and watch.fired:
                raise StreamStalledError(
                    f"{self.shown_url} went silent for {self.settings.stream_idle_timeout:g} s mid-answer "
                    "(AgentMagic.stream_idle_timeout)"
                ) from None
            raise self._timeout_error(first_chunk=not got_chunk) from None
        except (MalformedChunk, json.JSONDecodeError) as exc:  # the SDK decodes each event's data as JSON
            detail = f"not JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise self._malformed(detail, shown=bool(accumulator.text_parts)) from None
        except ModelCallError:
            raise
        except Exception as exc:
            error = translate_error(exc, base_url=self.base_url, model=self.settings.model)
            if isinstance(error, ModelConnectionError):
                error = StreamCutError(f"{self.shown_url} closed the stream mid-answer ({type(exc).__name__})")
            raise error from exc
        finally:
            if watch is not None:
                watch.stop()
            await stream.close()
        if not accumulator.finished:
            raise StreamCutError(f"{self.shown_url} ended the stream without finishing the answer (no finish_reason)")
        finish_reason = accumulator.finish_reason or "stop"
        yield ModelResponse(
            text=accumulator.text,
            tool_calls=accumulator.tool_calls(),
            finish_reason=finish_reason,
            usage=accumulator.usage,
            latency_s=time.monotonic() - started,
            ttft_s=None if first_token_at is None else first_token_at - started,
            response_model=accumulator.model,
        )

    async def _open(self, request: dict[str, Any], first_deadline: float) -> Any:
        """Send `request` and return the SDK's stream. A server that refuses the `response_format` is asked
        once more without it, and is not sent one again (the instructions carry the schema too)."""
        sdk = self._sdk_client()
        try:
            return await self._within(_post_streaming(sdk, request), first_deadline, first_chunk=True)
        except ModelCallError:
            raise
        except Exception as exc:
            if "response_format" in request and _rejects_response_format(exc):
                self.sends_response_format = False
                return await self._open({k: v for k, v in request.items() if k != "response_format"}, first_deadline)
            raise translate_error(exc, base_url=self.base_url, model=self.settings.model) from exc

    def _malformed(self, detail: str, *, shown: bool) -> MalformedStreamError:
        """An undecodable event: retried if no text was shown yet, else the call ends saying why."""
        if shown:
            return MalformedStreamError(
                f"{self.shown_url} sent a malformed event mid-answer ({detail}); the answer is incomplete, so it "
                "was stopped rather than shown with a gap",
                retryable=False,
            )
        return MalformedStreamError(f"{self.shown_url} sent a malformed event ({detail})", retryable=True)

    async def _within(self, awaitable: Any, deadline: float, *, first_chunk: bool) -> Any:
        """Await `awaitable` until the monotonic `deadline`; past it, a `ModelTimeoutError` naming the
        limit (the first-byte limit until the first chunk arrived, then the whole-call limit)."""
        try:
            # Not wait_for: on 3.11 it can swallow a cancellation (a kernel interrupt) that arrives just as
            # the awaited chunk is ready; asyncio.timeout cannot.
            async with asyncio.timeout_at(self._loop_time(deadline)):
                return await awaitable
        except TimeoutError:
            raise self._timeout_error(first_chunk=first_chunk) from None

    @staticmethod
    def _loop_time(monotonic_deadline: float) -> float:
        """A `time.monotonic()` deadline on the event loop's clock."""
        return asyncio.get_running_loop().time() + (monotonic_deadline - time.monotonic())

    def _timeout_error(self, *, first_chunk: bool) -> ModelTimeoutError:
        """The first-byte limit's error until the first chunk arrived, then the whole-call limit's."""
        settings = self.settings
        if first_chunk and settings.first_byte_timeout < settings.call_timeout:
            return ModelTimeoutError(
                f"{self.shown_url} sent nothing within {settings.first_byte_timeout:g} s (AgentMagic.first_byte_timeout)"
            )
        return ModelTimeoutError(
            f"the call to {self.shown_url} took longer than {settings.call_timeout:g} s (AgentMagic.call_timeout)"
        )


class _StallWatch:
    """Ends a stream's deadline scope once no chunk arrived for `limit` seconds (checked a few times a
    second by a timer on the loop, so the per-chunk cost is one clock read)."""

    def __init__(self, scope: asyncio.Timeout, limit: float) -> None:
        self.scope = scope
        self.limit = limit
        self.last = time.monotonic()
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._every = min(1.0, limit / 4)
        self._handle = self._loop.call_later(self._every, self._check)

    def _check(self) -> None:
        if time.monotonic() - self.last >= self.limit:
            self.fired = True
            self.scope.reschedule(self._loop.time())  # the stream loop gets TimeoutError at its next await
        else:
            self._handle = self._loop.call_later(self._every, self._check)

    def stop(self) -> None:
        """Stop checking (the stream ended)."""
        self._handle.cancel()
