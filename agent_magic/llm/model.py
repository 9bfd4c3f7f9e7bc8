"""What a model is to the agent loop: something that streams one assistant message for a request.

`ModelClient` (HTTP, `client.py`) is the real one; tests use scripted in-memory models, and replay
(`replay.py`) answers from recordings. The loop only sees this protocol and the items the stream yields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from agent_magic.events import ToolCall
from agent_magic.llm.retry import RetryScheduled
from agent_magic.llm.stream import ReportedUsage


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
    retries: int = 0
    response_model: str | None = None  # the model the server says answered (None: it did not say)
    replayed: bool = False  # answered from a replay recording (llm/replay.py), not by a server


StreamItem = TextPiece | ModelResponse | RetryScheduled


class ChatModel(Protocol):
    """Streams one model call: `TextPiece`s as text arrives, a `RetryScheduled` before each retry, and
    finally one `ModelResponse`; raises `ModelCallError` when the call fails for good."""

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Send `messages` with the `tools` schemas (and `response_format`, when given) and stream the answer."""
        ...
