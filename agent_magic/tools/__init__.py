"""Tools the agent can call: the registry, the result shape, the runner and the built-in tools."""

from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import Tool, ToolRegistry, make_tool
from agent_magic.tools.result import ToolResult

__all__ = ["Tool", "ToolContext", "ToolRegistry", "ToolResult", "make_tool"]
