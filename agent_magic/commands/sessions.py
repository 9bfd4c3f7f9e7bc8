"""Subcommands about named conversations: switch, list, resume, fork, and compact one on demand."""

from __future__ import annotations

import argparse

from IPython.display import display

from agent_magic.blocking import run_blocking
from agent_magic.commands.table import Argument, CommandContext, Subcommand
from agent_magic.events import Event, Notice


def use_session(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Switch to the conversation called NAME (created, or continued from the ledger); without NAME, say
    which one is current."""
    book = ctx.runtime.conversations
    if args.name is None:
        current = book.current
        print(
            f"Current: session {current.name!r} (id {current.session.session_id}, {len(current.session.messages)} messages)."
        )
        return
    print(f"Now in {book.use(args.name).describe()}.")


def list_sessions(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Show this notebook's conversations as a table (also `agent_magic.sessions()`)."""
    from agent_magic.conversation.book import sessions_frame

    display(sessions_frame(ctx.runtime.conversations.table()))


def resume(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Bring back the latest conversation called NAME (default: the current one's name) from the ledger."""
    print(f"Now in {ctx.runtime.conversations.resume(args.name).describe()}.")


def fork(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Copy the current conversation into a new one called NAME and continue there."""
    book = ctx.runtime.conversations
    source = book.current_name
    switch = book.fork(args.name)
    print(f"Now in {switch.describe()}; {source!r} stays as it was (%agent session {source} to go back).")


def compact(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Summarise the current conversation's older turns now, keeping the latest ones word for word."""
    runtime = ctx.runtime
    session = runtime.session
    settings = runtime.turn_settings(model=args.model)
    runtime.endpoint_for(settings.model)  # one clear line when no model is configured

    async def run() -> list[Event]:
        # A client of its own: this runs on a private event loop, where the kernel's pooled one must not go.
        return [event async for event in session.compact(settings, model=runtime.fresh_client(settings.model))]

    events = run_blocking(run())
    runtime.publish(events)
    for event in events:
        if isinstance(event, Notice):
            print(event.message)


COMMANDS = (
    Subcommand(
        "session",
        "switch to the conversation called NAME (new, or continued from the ledger)",
        use_session,
        (Argument.of("name", nargs="?", metavar="NAME", help="the session's name, e.g. eda"),),
    ),
    Subcommand("sessions", "list this notebook's conversations: turns, tokens, cost, last use", list_sessions),
    Subcommand(
        "resume",
        "bring back the latest conversation called NAME (default: this one's name) after a restart",
        resume,
        (Argument.of("name", nargs="?", metavar="NAME", help="the session's name (default: the current one)"),),
    ),
    Subcommand(
        "fork",
        "copy this conversation into a new one called NAME and continue there",
        fork,
        (Argument.of("name", metavar="NAME", help="the new session's name"),),
    ),
    Subcommand(
        "compact",
        "summarise this conversation's older turns now",
        compact,
        (Argument.of("--model", metavar="NAME", help="the model that writes the summary (default: AgentMagic.model)"),),
    ),
)
