"""The `%agent mcp` subcommand: the MCP servers, their status and their tools (issue 14)."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import Argument, CommandContext, Subcommand


def show_mcp(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Print each configured MCP server (how it is run, its status) and the tools the model sees; with
    `--trust`, first trust servers of the workspace's `.mcp.json`."""
    from agent_magic.tools.mcp.report import mcp_report

    if args.trust:
        print(ctx.runtime.mcp.trust(args.trust))
        return
    print(mcp_report(ctx.runtime.mcp))


COMMANDS = (
    Subcommand(
        "mcp",
        "the MCP servers: how each is run, its status, its tools",
        show_mcp,
        (
            Argument.of(
                "--trust",
                nargs="+",
                metavar="SERVER",
                help="let these servers of the workspace's .mcp.json start (all: every one), as written now",
            ),
        ),
    ),
)
