"""The `%agent mcp` subcommand: the MCP servers, their status and their tools (issue 14)."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import CommandContext, Subcommand


def show_mcp(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Print each configured MCP server (how it is run, its status) and the tools the model sees."""
    from agent_magic.tools.mcp.report import mcp_report

    print(mcp_report(ctx.runtime.mcp))


COMMANDS = (Subcommand("mcp", "the MCP servers: how each is run, its status, its tools", show_mcp),)
