"""The usage subcommand: tokens, dollars and tool calls of this notebook."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import Argument, CommandContext, Subcommand


def show_usage(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Print this notebook's usage report; `--plot` also draws cost over time and by tool."""
    from agent_magic.ledger.context import LedgerContext
    from agent_magic.ledger.views import tool_calls, usage
    from agent_magic.ui.usage_report import show_usage as report

    runtime = ctx.runtime
    ledger = LedgerContext(runtime.ledger.store, runtime.ledger.notebook, runtime.ledger.user)
    report(
        usage(ledger),
        tool_calls(ledger),
        notebook=runtime.ledger.notebook,
        ledger_path=runtime.ledger.store.location,
        prices_as_of=runtime.prices().as_of,
        plot=args.plot,
    )


COMMANDS = (
    Subcommand(
        "usage",
        "tokens, dollars and tool calls of this notebook",
        show_usage,
        (Argument.of("--plot", action="store_true", help="also draw cost over time and by tool"),),
    ),
)
