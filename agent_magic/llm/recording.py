"""What replay keeps of one model call: the fingerprint of its request and the answer it got.

A request's fingerprint is a digest of everything the model sees (the model name, the tools offered, the
answer format, and each message of the conversation so far, system prompt first), plus one digest per
message so that a miss can say *where* a conversation left its recording ("prompt changed", "tool
result differs"). Digests are of canonical JSON, so they do not depend on key order or the process.

`Recording.to_json()` / `from_json()` are the shape of a record in the ledger and in replay files; a
record whose key does not match its digests is refused, so a hand-edited or damaged record never answers
the wrong request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from agent_magic.events import ToolCall
from agent_magic.llm.stream import ReportedUsage

DIGEST_CHARS = 32  # 128 bits of sha256: no accidental collision across any realistic number of calls


def canonical_json(value: Any) -> str:
    """`value` as JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(text: str) -> str:
    """A short sha256 hex digest of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True)
class RequestFingerprint:
    """The identity of one model request: `key` (the digest replay looks up) and what it is made of.

    `chars` is the request's size in characters of JSON (not part of the identity): with the tokens the
    server reported, it calibrates `%%agent --estimate`.
    """

    key: str
    model: str
    tools: str
    response_format: str
    messages: tuple[str, ...]
    chars: int = field(default=0, compare=False)

    @classmethod
    def of(
        cls,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
    ) -> RequestFingerprint:
        """The fingerprint of a request to `model`."""
        texts = [canonical_json(message) for message in messages]
        tools_text, format_text = canonical_json(tools), canonical_json(response_format)
        message_digests = tuple(digest(text) for text in texts)
        tools_digest, format_digest = digest(tools_text), digest(format_text)
        chars = sum(map(len, texts)) + len(tools_text) + (len(format_text) if response_format else 0)
        key = _key(model, tools_digest, format_digest, message_digests)
        return cls(key, model, tools_digest, format_digest, message_digests, chars)


def _key(model: str, tools: str, response_format: str, messages: tuple[str, ...]) -> str:
    return digest(canonical_json([model, tools, response_format, list(messages)]))


@dataclass(frozen=True)
class Recording:
    """One recorded model call: the request's fingerprint and the complete answer (text, tool calls, how it
    finished, the tokens it used, the model that answered)."""

    fingerprint: RequestFingerprint
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: ReportedUsage | None = None
    response_model: str | None = None

    def answer_json(self) -> dict[str, Any]:
        """The answer as plain JSON: text, tool calls as [id, name, arguments], finish reason, model."""
        return {
            "text": self.text,
            "tool_calls": [[c.call_id, c.name, c.arguments] for c in self.tool_calls],
            "finish_reason": self.finish_reason,
            "model": self.response_model,
        }

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON (a line of a replay file)."""
        fp = self.fingerprint
        usage = self.usage
        return {
            "key": fp.key,
            "model": fp.model,
            "tools": fp.tools,
            "response_format": fp.response_format,
            "messages": list(fp.messages),
            "answer": self.answer_json(),
            "usage": None
            if usage is None
            else {
                "input": usage.input_tokens,
                "cached": usage.cached_tokens,
                "output": usage.output_tokens,
                "reasoning": usage.reasoning_tokens,
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> Recording:
        """A record read back; raises `ValueError` naming what is wrong with a malformed one."""
        try:
            messages = tuple(_text(m, "messages[]") for m in data["messages"])
            fp = RequestFingerprint(
                key=_text(data["key"], "key"),
                model=_text(data["model"], "model"),
                tools=_text(data["tools"], "tools"),
                response_format=_text(data["response_format"], "response_format"),
                messages=messages,
            )
            answer = data["answer"]
            calls = tuple(ToolCall(*(_text(part, "tool_calls[]") for part in call)) for call in answer["tool_calls"])
            usage = data.get("usage")
            reported = (
                None
                if usage is None
                else ReportedUsage(
                    int(usage["input"]), int(usage["output"]), int(usage["cached"]), int(usage["reasoning"])
                )
            )
            recording = cls(
                fp,
                _text(answer["text"], "answer.text"),
                calls,
                _text(answer["finish_reason"], "answer.finish_reason"),
                reported,
                answer.get("model"),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a replay record (missing or malformed {exc})") from None
        if _key(fp.model, fp.tools, fp.response_format, fp.messages) != fp.key:
            raise ValueError("its key does not match the request it describes (edited or damaged)")
        return recording


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected text, got {type(value).__name__}")
    return value
