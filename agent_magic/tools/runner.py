"""Running one tool call: parse and validate arguments, call the function, turn every outcome into a
`ToolResult` (a crash or a timeout is a result the model reads, never an exception in the cell)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from agent_magic.events import ToolCall
from agent_magic.tools.context import ToolContext
from agent_magic.tools.framing import cap_text, frame_for_model
from agent_magic.tools.registry import ToolArgumentsError, ToolRegistry
from agent_magic.tools.result import ToolResult

log = logging.getLogger("agent_magic.tools")


@dataclass(frozen=True)
class ToolOutcome:
    """A finished tool call: the structured result and the framed, capped text the model receives."""

    result: ToolResult
    content: str
    truncated: bool


def parse_arguments(raw: str) -> dict:
    """Decode the model's JSON arguments; an empty string means no arguments."""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ToolArgumentsError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value


async def execute(call: ToolCall, registry: ToolRegistry, context: ToolContext, *, timeout: float) -> ToolResult:
    """Run `call` and return its result; never raises except for cancellation."""
    tool = registry.get(call.name)
    if tool is None:
        known = ", ".join(registry.names())
        return ToolResult.failure("unknown_tool", f"no tool named {call.name!r}; available: {known}")
    try:
        arguments = tool.validate(parse_arguments(call.arguments))
    except json.JSONDecodeError as exc:
        return ToolResult.failure(
            "invalid_arguments", f"arguments are not valid JSON ({exc.msg} at position {exc.pos})", retryable=True
        )
    except ToolArgumentsError as exc:
        return ToolResult.failure("invalid_arguments", str(exc), retryable=True)
    positional = (context,) if tool.takes_context else ()
    try:
        if tool.is_async:
            value = await asyncio.wait_for(tool.function(*positional, **arguments), timeout)
        else:
            value = await asyncio.wait_for(asyncio.to_thread(tool.function, *positional, **arguments), timeout)
    except asyncio.TimeoutError:
        return ToolResult.failure("timeout", f"{call.name} did not finish within {timeout:g} s", retryable=True)
    except Exception as exc:  # a tool's own bug must not end the turn
        log.warning("tool %s crashed", call.name, exc_info=True)
        return ToolResult.failure("tool_crashed", f"{type(exc).__name__}: {exc}")
    return value if isinstance(value, ToolResult) else ToolResult.success(value)


def present(call: ToolCall, result: ToolResult, *, max_chars: int) -> ToolOutcome:
    """Serialise, cap and frame a result for the model."""
    text, truncated = cap_text(result.to_json(), max_chars)
    return ToolOutcome(result=result, content=frame_for_model(call.name, text), truncated=truncated)
