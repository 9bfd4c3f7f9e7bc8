"""`%agent mcp`: the configured MCP servers, their status and their tools, as plain text."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from agent_magic.tools.mcp.config import CONFIG_FILE, SETTING
from agent_magic.tools.mcp.connection import ServerState
from agent_magic.tools.mcp.manager import retry_note

if TYPE_CHECKING:
    from agent_magic.tools.mcp.connection import ServerConnection
    from agent_magic.tools.mcp.manager import McpManager

NOTHING_CONFIGURED = (
    f"No MCP servers are configured: add them to {CONFIG_FILE} in the workspace "
    f'({{"mcpServers": {{"time": {{"command": "uvx", "args": ["mcp-server-time"]}}}}}}) or to {SETTING}.'
)


def _status(connection: ServerConnection | None, now: float) -> str:
    if connection is None or connection.state is ServerState.NOT_STARTED:
        return "not started (starts with the next %%agent turn)"
    if connection.state is ServerState.RUNNING:
        pid = f", pid {connection.pid}" if connection.pid else ""
        return f"running (started in {connection.start_seconds:.1f} s{pid})"
    if connection.state is ServerState.FAILED:
        return f"failed {connection.failures}× ({retry_note(connection, now)}): {connection.cause}"
    return connection.state.value


def mcp_report(manager: McpManager) -> str:
    """Every configured server (transport, how it is run, status) and the tools of the running ones,
    each with the name the model sees, whether it needs approval, and its first description line."""
    loaded = manager.load()
    now = time.monotonic()
    running = {c.name: c for c in manager.connections()}
    if not loaded.specs and not loaded.problems:
        return NOTHING_CONFIGURED
    lines = [f"MCP servers ({CONFIG_FILE} in {manager.config.workspace_path}, then {SETTING}):"]
    waiting = {spec.name for spec in manager.untrusted(loaded)}
    for name, spec in loaded.specs.items():
        status = (
            f"waiting for your trust: %agent mcp --trust {name}" if name in waiting else _status(running.get(name), now)
        )
        lines.append(f"  {name:<14} {spec.transport:<5} {status}")
        lines.append(f"  {'':<14} {spec.shown}  [{spec.origin}]")
    lines += [f"  problem: {problem}" for problem in loaded.problems]
    up = [n for n in loaded.specs if n in running and running[n].state is ServerState.RUNNING and n not in waiting]
    offered = [tool for name in up for tool in manager.offered(name)]
    if offered:
        lines.append("Tools offered to the model:")
        for entry in offered:
            approval = "needs approval" if entry.tool.destructive else "read-only"
            description = entry.tool.description.splitlines()[0] if entry.tool.description else ""
            lines.append(f"  {entry.name:<32} {approval:<15} {description[:80]}")
    return "\n".join(lines)
