"""Subcommands that show how the agent is set up: its settings and its tools."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import CommandContext, Subcommand


def show_config(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Print every setting with its effective value (the API key masked), then the instructions files."""
    for name, value in ctx.runtime.config.effective_settings().items():
        print(f"{name:<22} {value}")
    files = ctx.runtime.project_instructions().files
    print(f"{'instructions (loaded)':<22} " + ("; ".join(f.describe() for f in files) if files else "none configured"))


def show_tools(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """List the tools the model may call and whether each needs approval."""
    for tool in ctx.runtime.session.tools:
        approval = "needs approval" if tool.destructive else "read-only"
        first_line = tool.description.splitlines()[0] if tool.description else ""
        print(f"{tool.name:<18} {approval:<15} {first_line}")


COMMANDS = (
    Subcommand("config", "print the effective settings", show_config),
    Subcommand("tools", "list the tools the model may call", show_tools),
)
