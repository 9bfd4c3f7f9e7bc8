"""Subcommands that show how the agent is set up: its settings (and what prices its model) and its tools."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import CommandContext, Subcommand
from agent_magic.policy.secrets import mask_secrets


def show_config(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Print every setting with its effective value, where the model's price comes from and which
    instructions files were loaded; secrets (the API key, credentials in URLs, wherever a setting or a price
    note repeats them) masked."""
    lines = [f"{name:<22} {value}" for name, value in ctx.runtime.config.effective_settings().items()]
    lines.append(f"{'price of model':<22} {ctx.runtime.prices().source_for(ctx.runtime.config.model)}")
    files = ctx.runtime.project_instructions().files
    lines.append(f"{'instructions (loaded)':<22} " + ("; ".join(f.describe() for f in files) or "none configured"))
    print(mask_secrets("\n".join(lines)))


def show_tools(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """List the tools the model may call, whether each needs approval, and the MCP server of theirs."""
    tools = list(ctx.runtime.session.tools)
    width = max([18, *(len(tool.name) for tool in tools)])
    for tool in tools:
        approval = "needs approval" if tool.destructive else "read-only"
        first_line = tool.description.splitlines()[0] if tool.description else ""
        origin = f"[MCP {tool.server}] " if tool.server else ""
        print(f"{tool.name:<{width}} {approval:<15} {origin}{first_line}")


COMMANDS = (
    Subcommand("config", "print the effective settings", show_config),
    Subcommand("tools", "list the tools the model may call", show_tools),
)
