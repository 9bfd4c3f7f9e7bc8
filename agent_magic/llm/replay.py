"""Replay: a `ChatModel` that answers model calls from recordings, with no HTTP request.

Each call's request is fingerprinted (`recording.py`) and looked up in the recordings. A hit streams the
recorded answer (the same text, the same tool calls with the same ids) and ends with a `ModelResponse`
flagged `replayed`; the loop runs the tools again as in a live run. A miss either calls the live model
(`auto`) or fails with `ReplayMiss` (`strict`), whose one line names the cell (by its prompt) and the
reason, found by comparing the request with the recording that shares the longest start with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from agent_magic.errors import AgentUsageError, ReplayMiss
from agent_magic.llm.model import ChatModel, ModelResponse, StreamItem, TextPiece
from agent_magic.llm.recording import Recording, RequestFingerprint

PROMPT_HEAD_CHARS = 60


class Recordings(Protocol):
    """Where replay looks answers up (the ledger and the replay files next to the notebook)."""

    def find(self, fingerprint: RequestFingerprint) -> Recording | None:
        """The recording of exactly this request, if there is one."""
        ...

    def candidates(self) -> Iterable[RequestFingerprint]:
        """The recorded requests a miss is compared with to explain it."""
        ...


def _common_start(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def _tool_name(messages: list[dict[str, Any]], call_id: str | None) -> str:
    for message in messages:
        for call in message.get("tool_calls") or ():
            if call.get("id") == call_id:
                return str(call.get("function", {}).get("name", "a tool"))
    return "a tool"


def _differs_at(messages: list[dict[str, Any]], index: int) -> str:
    """Why a conversation left its recording at message `index`."""
    message = messages[index]
    role = message.get("role")
    if role == "user":
        last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        return "prompt changed" if index == last_user else "an earlier prompt of the conversation changed"
    if role == "tool":
        return f"tool result differs ({_tool_name(messages, message.get('tool_call_id'))})"
    return "an earlier answer of the conversation differs (it was not replayed)"


def explain_miss(
    fingerprint: RequestFingerprint, messages: list[dict[str, Any]], candidates: Iterable[RequestFingerprint]
) -> str:
    """Why no recording matches: compared with the recorded request whose conversation (the system prompt
    aside: `--schema` turns have their own) shares the longest start with this one."""
    best: RequestFingerprint | None = None
    best_rank = (-1, False, False, False)
    for candidate in candidates:
        rank = (
            _common_start(candidate.messages[1:], fingerprint.messages[1:]),
            candidate.model == fingerprint.model,
            candidate.tools == fingerprint.tools,
            candidate.messages[:1] == fingerprint.messages[:1],
        )
        if rank > best_rank:
            best, best_rank = candidate, rank
    if best is None:
        return "nothing is recorded (no replay file next to the notebook, no live run in the ledger)"
    shared = best_rank[0] + 1  # messages in common, counting the system prompt's place
    if shared < min(len(best.messages), len(fingerprint.messages)):
        return _differs_at(messages, shared)
    if shared < len(fingerprint.messages):
        # The conversation goes on past the recording: past its recorded answer, what came next is new.
        after_answer = shared + 1 if messages[shared].get("role") == "assistant" else shared
        return _differs_at(messages, min(after_answer, len(messages) - 1))
    if best.model != fingerprint.model:
        return f"the model changed (recorded with {best.model})"
    if best.tools != fingerprint.tools:
        return "the tools on offer changed"
    if best.response_format != fingerprint.response_format:
        return "the answer format (--schema) changed"
    return "the system prompt changed"


def prompt_head(messages: list[dict[str, Any]]) -> str:
    """The start of the turn's prompt (the last user message): how a miss names its cell."""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = " ".join(str(message.get("content") or "").split())
            return text if len(text) <= PROMPT_HEAD_CHARS else text[: PROMPT_HEAD_CHARS - 1] + "…"
    return ""


class ReplayModel:
    """A `ChatModel` for `model` that answers from `recordings`; on a miss it calls `live()` (None:
    strict replay, a miss is a `ReplayMiss` and nothing is sent).

    Example:
        >>> model = ReplayModel("gpt-4.1-mini", library, live=None)   # doctest: +SKIP
        >>> async for item in model.stream(messages, tools): ...      # doctest: +SKIP
    """

    def __init__(self, model: str, recordings: Recordings, *, live: Callable[[], ChatModel] | None) -> None:
        self.model = model
        self.recordings = recordings
        self.live = live

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamItem]:
        """The recorded answer to this request, or (auto) the live model's, or (strict) `ReplayMiss`."""
        fingerprint = RequestFingerprint.of(self.model, messages, tools, response_format)
        recording = self.recordings.find(fingerprint)
        if recording is None:
            async for item in self._miss(fingerprint, messages, tools, response_format):
                yield item
            return
        if recording.text:  # at once: there is nothing to wait for
            yield TextPiece(recording.text)
        yield ModelResponse(
            text=recording.text,
            tool_calls=recording.tool_calls,
            finish_reason=recording.finish_reason,
            usage=recording.usage,
            latency_s=0.0,
            ttft_s=None,
            response_model=recording.response_model,
            replayed=True,
        )

    async def _miss(
        self,
        fingerprint: RequestFingerprint,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
    ) -> AsyncIterator[StreamItem]:
        cell = f"the cell «{prompt_head(messages)}»"
        if self.live is None:
            reason = explain_miss(fingerprint, messages, self.recordings.candidates())
            raise ReplayMiss(
                f"replay (strict): no recording of this model call in {cell}: {reason}; nothing was sent "
                "(record it again with AgentMagic.replay = 'auto' or 'off', then %agent replay export)"
            )
        try:
            live = self.live()
        except AgentUsageError as exc:
            reason = explain_miss(fingerprint, messages, self.recordings.candidates())
            raise AgentUsageError(f"replay: no recording of this model call in {cell} ({reason}); {exc}") from None
        formats = {"response_format": response_format} if response_format else {}
        async for item in live.stream(messages, tools, **formats):
            yield item
