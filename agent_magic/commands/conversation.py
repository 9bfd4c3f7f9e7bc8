"""Subcommands about the conversation: start anew, read it back, and see why a turn failed."""

from __future__ import annotations

import argparse

from agent_magic.commands.table import Argument, CommandContext, Subcommand
from agent_magic.policy.secrets import mask_secrets

MAX_SHOWN_TOOL_RESULT = 300


def reset(ctx: CommandContext, args: argparse.Namespace) -> None:
    """Start a new conversation under the current session's name (the old one stays in the ledger); with
    `--mcp`, also stop the MCP servers (the next turn starts them)."""
    switch = ctx.runtime.conversations.fresh()
    print(f"New conversation: {switch.describe()}.")
    if args.mcp:
        stopped = ctx.runtime.mcp.stop_all()
        print(f"Stopped {stopped} MCP server{'' if stopped == 1 else 's'}; they start again with the next turn.")


def history(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Print the current conversation as the model sees it."""
    current = ctx.runtime.conversations.current
    messages = current.session.messages
    if not messages:
        print(f"The conversation is empty. (session {current.name!r})")
        return
    print(f"Session {current.name!r} ({current.session.session_id}), {len(messages)} messages:")
    for message in messages:
        role = message["role"]
        content = message.get("content") or ""
        if role == "tool" and len(content) > MAX_SHOWN_TOOL_RESULT:
            content = content[:MAX_SHOWN_TOOL_RESULT] + " …"
        print(f"[{role}] {content}".rstrip())
        for call in message.get("tool_calls") or ():
            print(f"    → {call['function']['name']}({call['function']['arguments']})")


def last_error(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Show the last failed turn of this conversation in full: its states, causes and attempts."""
    failed = [t for t in ctx.runtime.session.turns if t.error is not None]
    if not failed:
        print("No turn in this conversation has failed.")
        return
    record = failed[-1]
    lines = [f"turn {record.turn_id}: {record.message}", "states: " + " → ".join(s.value for s in record.states)]
    error = record.error
    chain = []
    while error is not None:
        chain.append(f"{type(error).__module__}.{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    lines += ["  caused by " + c if i else c for i, c in enumerate(chain)]
    details = getattr(record.error, "details", "")  # e.g. the raw answer --schema rejected
    if details:
        lines.append(details)
    attempts = getattr(record.error, "attempts", ())
    if attempts:
        lines += [f"attempts ({len(attempts)}):", *("  " + attempt.describe() for attempt in attempts)]
    print(mask_secrets("\n".join(lines)))  # a server's error body may echo credentials


COMMANDS = (
    Subcommand(
        "reset",
        "start a new conversation",
        reset,
        (Argument.of("--mcp", action="store_true", help="also stop the MCP servers (they restart next turn)"),),
    ),
    Subcommand("history", "print the conversation so far", history),
    Subcommand("last-error", "show the last failed turn's error in full", last_error),
)
