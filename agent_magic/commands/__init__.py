"""The `%agent` subcommands, as one table: each is a `Subcommand` (name, help, arguments, handler)
declared in the module of its topic. `%agent help`, `%agent?` and the docs are generated from it.

A feature adds its subcommands in its own module and lists them here.
"""

from __future__ import annotations

from agent_magic.commands import conversation, mcp, repro, sessions, settings, undo, usage
from agent_magic.commands.table import CommandContext, Subcommand

SUBCOMMANDS: tuple[Subcommand, ...] = (
    *conversation.COMMANDS,
    *sessions.COMMANDS,
    *undo.COMMANDS,
    *settings.COMMANDS,
    *usage.COMMANDS,
    *mcp.COMMANDS,
    *repro.COMMANDS,
)

__all__ = ["SUBCOMMANDS", "CommandContext", "Subcommand"]
