"""The model client: one streamed Chat Completions call to any OpenAI-compatible endpoint.

It wraps `openai.AsyncOpenAI` (imported on first use, so loading the extension stays fast), turns the
SDK's exceptions into agent_magic's small error hierarchy with one-line messages, and refuses to treat a
stream without `finish_reason` as a complete answer.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agent_magic.errors import (
    ModelCallError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    StreamCutError,
)
from agent_magic.events import ToolCall
from agent_magic.llm.stream import ChunkAccumulator, ReportedUsage


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how to call the model. `None` for base_url/api_key means: as the openai SDK decides
    (the `OPENAI_BASE_URL` / `OPENAI_API_KEY` environment variables)."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    connect_timeout: float = 10.0
    idle_timeout: float = 120.0


@dataclass(frozen=True)
class TextPiece:
    """New answer text from the stream."""

    text: str


@dataclass(frozen=True)
class ModelResponse:
    """A complete assistant message and the facts about the call that produced it."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: ReportedUsage | None
    latency_s: float
    ttft_s: float | None


StreamItem = TextPiece | ModelResponse


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
    """Turn an openai/httpx exception into a `ModelCallError` whose message names the cause and the fix."""
    import httpx
    import openai

    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ModelTimeoutError(f"{base_url} did not answer in time; check the server or raise the timeouts")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _error_detail(exc.body)
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
        return ModelConnectionError(f"cannot reach {base_url} ({type(cause).__name__}); is the server running?")
    return ModelCallError(f"{type(exc).__name__} talking to {base_url}: {exc}")


class ModelClient:
    """Streams one model call at a time to one endpoint.

    Example:
        >>> client = ModelClient(EndpointSettings(model="demo", base_url="http://127.0.0.1:8000/v1", api_key="x"))
        >>> # async for item in client.stream(messages, tools): ...
    """

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._sdk: Any = None

    def _sdk_client(self) -> Any:
        if self._sdk is None:
            import httpx
            from openai import AsyncOpenAI

            timeout = httpx.Timeout(self.settings.idle_timeout, connect=self.settings.connect_timeout)
            # max_retries=0: retries are ours (tenacity), so attempts are counted once and never multiplied.
            self._sdk = AsyncOpenAI(
                api_key=self.settings.api_key,
                base_url=self.settings.base_url,
                max_retries=0,
                timeout=timeout,
            )
        return self._sdk

    @property
    def base_url(self) -> str:
        """The endpoint actually used (after the SDK's environment defaults)."""
        return str(self._sdk_client().base_url).rstrip("/")

    async def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> AsyncIterator[StreamItem]:
        """Send one request; yield `TextPiece`s as they arrive, then one `ModelResponse`.

        Raises `ModelCallError` (or a subclass) on any failure, including a stream that ends without
        a finish_reason. Cancelling the caller closes the HTTP stream.
        """
        sdk = self._sdk_client()
        started = time.monotonic()
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
        try:
            stream = await sdk.chat.completions.create(**request)
        except Exception as exc:
            raise translate_error(exc, base_url=self.base_url, model=self.settings.model) from exc
        try:
            async for chunk in stream:
                text = accumulator.add(chunk)
                if first_token_at is None and accumulator.has_output:
                    first_token_at = time.monotonic()
                if text:
                    yield TextPiece(text)
        except Exception as exc:
            error = translate_error(exc, base_url=self.base_url, model=self.settings.model)
            if isinstance(error, ModelConnectionError):
                error = StreamCutError(f"{self.base_url} closed the stream mid-answer ({type(exc).__name__})")
            raise error from exc
        finally:
            await stream.close()
        if not accumulator.finished:
            raise StreamCutError(f"{self.base_url} ended the stream without finishing the answer (no finish_reason)")
        finish_reason = accumulator.finish_reason or "stop"
        yield ModelResponse(
            text=accumulator.text,
            tool_calls=accumulator.tool_calls(),
            finish_reason=finish_reason,
            usage=accumulator.usage,
            latency_s=time.monotonic() - started,
            ttft_s=None if first_token_at is None else first_token_at - started,
        )
