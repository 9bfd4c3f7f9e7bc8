"""Assembling streamed Chat Completions chunks into one assistant message.

OpenAI-compatible servers differ in small ways; each is accepted when it still means something:
- tool-call deltas without an `index` (matched by `id`, else continuing the last call);
- a whole tool call in one delta, or `arguments` sent as a JSON object instead of a string;
- `finish_reason: "stop"` on a message that carries tool calls (some local servers);
- usage on the last content chunk, on a separate chunk with no choices, or repeated on every chunk;
- `content: null`, empty deltas, keep-alive chunks without choices.
A stream without any `finish_reason` is never accepted as complete: the caller checks `finished`.

What cannot mean anything is refused, never skipped (skipping could silently lose text): a chunk that is
not an object, `choices` that is not a list, a choice or delta that is not an object, content that is
not a string. `add()` raises `MalformedChunk` for those, and the client treats it as a stream fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent_magic.events import ToolCall


class MalformedChunk(ValueError):
    """A streamed chunk whose shape cannot be read as part of an answer."""


_NOT_OBJECTS = (str, bytes, int, float, list, tuple)  # bool is an int


def _is_object(value: Any) -> bool:
    """A JSON object as the SDK hands it over (a dict, or a constructed, unvalidated SDK model).

    Asked the other way round (not a JSON scalar or array): a check against builtin types costs a tenth
    of an isinstance against pydantic's BaseModel, and this runs several times per streamed chunk."""
    return value is not None and not isinstance(value, _NOT_OBJECTS)


@dataclass(frozen=True)
class ReportedUsage:
    """Token counts as the server reported them."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass
class _PartialCall:
    call_id: str
    name: str = ""
    arguments: str = ""


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field from an SDK object or a plain dict alike."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def parse_usage(usage: Any) -> ReportedUsage:
    """Normalise a usage object (OpenAI names, with the nested details many servers omit)."""
    prompt_details = _get(usage, "prompt_tokens_details") or {}
    completion_details = _get(usage, "completion_tokens_details") or {}
    return ReportedUsage(
        input_tokens=_as_int(_get(usage, "prompt_tokens")),
        output_tokens=_as_int(_get(usage, "completion_tokens")),
        cached_tokens=_as_int(_get(prompt_details, "cached_tokens")),
        reasoning_tokens=_as_int(_get(completion_details, "reasoning_tokens")),
    )


@dataclass
class ChunkAccumulator:
    """Feed it chunks with `add()`; it returns each chunk's new text and keeps the rest."""

    text_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: ReportedUsage | None = None
    model: str | None = None  # the model that answered, as the server names it (e.g. a dated snapshot)
    _calls: list[_PartialCall] = field(default_factory=list)
    _by_index: dict[int, _PartialCall] = field(default_factory=dict)

    def add(self, chunk: Any) -> str:
        """Take one chunk; return the answer text it adds ("" if none).

        Raises `MalformedChunk` for a shape that cannot mean anything (checked while reading, in the
        same pass: this runs once per streamed token)."""
        if not _is_object(chunk):
            raise MalformedChunk(f"a chunk is a {type(chunk).__name__}, not an object")
        if self.model is None:
            self.model = _get(chunk, "model") or None
        usage = _get(chunk, "usage")
        if usage:
            self.usage = parse_usage(usage)
        new_text = ""
        choices = _get(chunk, "choices") or ()
        if type(choices) is not list and choices != ():
            raise MalformedChunk(f"'choices' is a {type(choices).__name__}, not a list")
        for choice in choices:
            delta = _get(choice, "delta") if _is_object(choice) else choice
            if delta is not None and not _is_object(delta):
                raise MalformedChunk("a choice or its delta is not an object")
            delta = delta or {}
            content = _get(delta, "content")
            if content:
                if type(content) is not str:
                    raise MalformedChunk(f"'content' is a {type(content).__name__}, not text")
                new_text += content
            calls = _get(delta, "tool_calls") or ()
            if type(calls) is not list and calls != ():
                raise MalformedChunk(f"'tool_calls' is a {type(calls).__name__}, not a list")
            for call_delta in calls:
                self._add_call_delta(call_delta)
            reason = _get(choice, "finish_reason")
            if reason:
                self.finish_reason = reason
        if new_text:
            self.text_parts.append(new_text)
        return new_text

    def _add_call_delta(self, delta: Any) -> None:
        index, call_id = _get(delta, "index"), _get(delta, "id")
        function = _get(delta, "function") or {}
        call = self._by_index.get(index) if index is not None else None
        if call is None and call_id:
            call = next((c for c in self._calls if c.call_id == call_id), None)
        if call is None and index is None and not call_id and self._calls:
            call = self._calls[-1]
        if call is None:
            call = _PartialCall(call_id=call_id or f"call_{len(self._calls) + 1}")
            self._calls.append(call)
            if index is not None:
                self._by_index[index] = call
        name = _get(function, "name")
        if name:
            call.name = name if not call.name or call.name == name else call.name + name
        arguments = _get(function, "arguments")
        if isinstance(arguments, dict):
            call.arguments = json.dumps(arguments)
        elif arguments:
            call.arguments += arguments

    @property
    def text(self) -> str:
        """The answer text so far."""
        return "".join(self.text_parts)

    @property
    def has_output(self) -> bool:
        """True once any answer text or tool call has arrived (the moment of "first token")."""
        return bool(self.text_parts or self._calls)

    @property
    def finished(self) -> bool:
        """True once the server sent a finish_reason."""
        return self.finish_reason is not None

    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The completed tool calls, in the order the server started them."""
        return tuple(ToolCall(c.call_id, c.name, c.arguments) for c in self._calls if c.name)
