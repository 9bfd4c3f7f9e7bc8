"""Running one tool call: parse and validate arguments, call the function, turn every outcome into a
`ToolResult` (a crash or a timeout is a result the model reads, never an exception in the cell)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agent_magic.events import ToolCall
from agent_magic.policy.secrets import secret_masker
from agent_magic.tools.context import ToolContext
from agent_magic.tools.framing import cap_text, frame_for_model
from agent_magic.tools.registry import ToolArgumentsError, ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.threads import ToolThreadsExhausted, run_in_tool_thread

log = logging.getLogger("agent_magic.tools")


def _masked(value: Any, mask: Callable[[str], str]) -> Any:
    """`value` with `mask` applied to every string in it, at any depth."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {_masked(k, mask): _masked(v, mask) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_masked(v, mask) for v in value)
    return value


def mask_result(result: ToolResult, *, mask: Callable[[str], str] | None = None) -> ToolResult:
    """The result with secrets masked in its data and message (tool output never carries a key).

    `mask` defaults to masking credential-like environment values; an MCP server's results also mask
    the secrets of its own configuration (issue 14).
    """
    mask = mask or secret_masker()  # taken once for every string of the result
    return replace(result, data=_masked(result.data, mask), error_message=_masked(result.error_message, mask))


@dataclass(frozen=True)
class ToolOutcome:
    """A finished tool call: the structured result and the framed, capped text the model receives."""

    result: ToolResult
    content: str
    truncated: bool


async def execute(call: ToolCall, registry: ToolRegistry, context: ToolContext, *, timeout: float) -> ToolResult:
    """Run `call` and return its result, secrets masked; never raises except for cancellation."""
    return mask_result(await _execute(call, registry, context, timeout=timeout))


async def _execute(call: ToolCall, registry: ToolRegistry, context: ToolContext, *, timeout: float) -> ToolResult:
    tool = registry.get(call.name)
    if tool is None:
        known = ", ".join(registry.names())
        return ToolResult.failure("unknown_tool", f"no tool named {call.name!r}; available: {known}")
    decoded = call.decoded
    if decoded.values is None:
        return ToolResult.failure("invalid_arguments", str(decoded.error), retryable=True)
    try:
        arguments = tool.validate(decoded.values)
    except ToolArgumentsError as exc:
        return ToolResult.failure("invalid_arguments", str(exc), retryable=True)
    positional = (context,) if tool.takes_context else ()
    try:
        # A timeout scope, not asyncio.wait_for: that wraps the call in a task of its own.
        async with asyncio.timeout(timeout):
            if tool.is_async:
                value = await tool.function(*positional, **arguments)
            else:
                value = await run_in_tool_thread(tool.function, *positional, **arguments)
    except TimeoutError:
        return ToolResult.failure("timeout", f"{call.name} did not finish within {timeout:g} s", retryable=True)
    except ToolThreadsExhausted as exc:
        return ToolResult.failure("tool_threads_exhausted", str(exc))
    except Exception as exc:  # a tool's own bug must not end the turn
        log.warning("tool %s crashed", call.name, exc_info=True)
        return ToolResult.failure("tool_crashed", f"{type(exc).__name__}: {exc}")
    return value if isinstance(value, ToolResult) else ToolResult.success(value)


def present(call: ToolCall, result: ToolResult, *, max_chars: int) -> ToolOutcome:
    """Serialise, cap and frame a result for the model."""
    # Masked again as text: a value JSON can only show by its repr may still hold a secret.
    text, truncated = cap_text(secret_masker()(result.to_json()), max_chars)
    return ToolOutcome(result=result, content=frame_for_model(call.name, text), truncated=truncated)
