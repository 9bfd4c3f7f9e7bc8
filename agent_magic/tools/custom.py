"""Notebook-defined tools: `@agent_magic.tool` turns a typed function into a tool the agent may call.

    @agent_magic.tool
    def celsius_to_fahrenheit(celsius: float) -> float:
        '''Convert a temperature from Celsius to Fahrenheit.'''
        return celsius * 9 / 5 + 32

    @agent_magic.tool(destructive=True)
    async def send_report(to: str, text: str) -> str:
        '''Email a report (asks for approval first).'''
        ...

The JSON schema comes from the signature and the docstring's Args section; arguments are validated
before the function runs; sync functions run on a worker thread, async ones on the kernel's loop. The
tools live in one registry per process (one kernel), which every session links to, so a tool defined
in any cell is offered from the next `%%agent` cell on. Redefining a tool replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, overload

from agent_magic.errors import AgentUsageError
from agent_magic.tools.registry import ToolRegistry, make_tool

F = TypeVar("F", bound=Callable[..., Any])

CUSTOM_TOOLS = ToolRegistry()
_NAME = r"^[A-Za-z0-9_-]{1,64}$"


def reserved_names() -> set[str]:
    """Names of the built-in tools, which notebook tools may not take over."""
    from agent_magic.tools.builtins import builtin_tools

    return {tool.name for tool in builtin_tools()}


def register(function: Callable[..., Any], *, name: str | None = None, destructive: bool = False) -> None:
    """Add `function` to the notebook's tools (what the decorator does)."""
    tool_name = name or function.__name__
    if not re.match(_NAME, tool_name):
        raise AgentUsageError(f"tool name {tool_name!r} must be 1-64 letters, digits, _ or -; pass name='…'")
    if tool_name in reserved_names():
        raise AgentUsageError(
            f"{tool_name!r} is a built-in tool; give yours another name with @agent_magic.tool(name='…')"
        )
    try:
        tool = make_tool(function, name=tool_name, destructive=destructive)
    except TypeError as exc:
        raise AgentUsageError(f"cannot make a tool of {function.__name__}: {exc}") from None
    CUSTOM_TOOLS.add(tool)


@overload
def tool(function: F) -> F: ...
@overload
def tool(*, name: str | None = None, destructive: bool = False) -> Callable[[F], F]: ...


def tool(function: Any = None, *, name: str | None = None, destructive: bool = False) -> Any:
    """Decorator: offer a typed function (sync or async) to the agent as a tool.

    `@agent_magic.tool` for a read-only tool (it may run in parallel with others, no approval);
    `@agent_magic.tool(destructive=True)` for one that changes things (each call is approved first).
    The function itself is returned unchanged, so the notebook can still call it.
    """

    def decorate(fn: F) -> F:
        register(fn, name=name, destructive=destructive)
        return fn

    return decorate(function) if function is not None else decorate
