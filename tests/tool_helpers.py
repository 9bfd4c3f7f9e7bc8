"""Calling built-in tools the way a turn does: JSON arguments through the real runner."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agent_magic.events import ToolCall
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.runner import execute


def call_tool(tool: str, ctx: ToolContext | Path, /, runner_timeout: float = 30.0, **arguments: Any) -> ToolResult:
    """Run the built-in tool `tool` with `arguments` through `runner.execute`."""
    context = ctx if isinstance(ctx, ToolContext) else ToolContext(workspace=ctx)
    call = ToolCall("call-1", tool, json.dumps(arguments))
    return asyncio.run(execute(call, ToolRegistry(builtin_tools()), context, timeout=runner_timeout))
