"""An in-memory model for the loop's tests: replies are queued and each model call takes the next one.

It implements the loop's `ChatModel` protocol (`agent_magic.llm.model`), so session, approval, budget and
ledger tests need no HTTP server. The HTTP client itself is tested against the loopback SSE server.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_magic.events import ToolCall
from agent_magic.llm.model import ModelResponse, StreamItem, TextPiece
from agent_magic.llm.stream import ReportedUsage

Request = tuple[list[dict[str, Any]], list[dict[str, Any]]]


@dataclass
class Reply:
    """One scripted answer: text (streamed in `pieces`), tool calls, usage; or an exception to raise."""

    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()
    usage: tuple[int, int] | None = (10, 5)
    pieces: list[str] | None = None
    error: BaseException | None = None
    finish_reason: str | None = None


@dataclass
class ScriptedModel:
    """Answers model calls from a queue of `Reply`s (or a function of the request) and records every
    request it was sent in `requests`."""

    replies: deque[Reply | Callable[[Request], Reply]] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    response_formats: list[dict[str, Any] | None] = field(default_factory=list)
    otherwise: Callable[[Request], Reply] | None = None  # answers when no reply is queued
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def add_text(self, text: str, *, usage: tuple[int, int] | None = (10, 5), pieces: list[str] | None = None) -> None:
        """Queue a text answer."""
        self.replies.append(Reply(text=text, usage=usage, pieces=pieces))

    def add_tool_calls(self, *calls: tuple[str, str], text: str = "") -> None:
        """Queue an answer asking for tool calls, each (name, JSON arguments)."""
        self.replies.append(Reply(text=text, tool_calls=calls))

    def add_error(self, error: BaseException) -> None:
        """Queue a failed model call."""
        self.replies.append(Reply(error=error))

    def add_function(self, answer: Callable[[Request], Reply]) -> None:
        """Queue a reply computed from the request it answers."""
        self.replies.append(answer)

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Take the next reply: stream its text, then the response (or raise its error)."""
        request = ([dict(m) for m in messages], tools)
        self.requests.append(request)
        self.response_formats.append(response_format)
        if not self.replies and self.otherwise is None:
            raise AssertionError("the scripted model was called more often than replies were queued")
        reply = self.replies.popleft() if self.replies else self.otherwise
        if callable(reply):
            reply = reply(request)
        if reply.error is not None:
            raise reply.error
        for piece in reply.pieces or ([reply.text] if reply.text else []):
            yield TextPiece(piece)
        calls = tuple(ToolCall(f"call_{next(self._ids)}", name, arguments) for name, arguments in reply.tool_calls)
        usage = ReportedUsage(*reply.usage) if reply.usage is not None else None
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        yield ModelResponse(reply.text, calls, finish, usage, latency_s=0.001, ttft_s=0.0005)
