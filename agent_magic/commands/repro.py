"""Subcommands that keep the agent's work with the notebook: replay files and the code `run_python` ran."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent_magic.commands.table import Argument, CommandContext, Subcommand


def replay(ctx: CommandContext, args: argparse.Namespace) -> None:
    """`export`: write the recordings of this kernel's turns to a replay file next to the notebook;
    `status`: the replay mode and the recordings it would use."""
    library = ctx.runtime.replay
    if args.action == "export":
        done = library.export(Path(args.path) if args.path else None, everything=args.all, replace=args.replace)
        if not done.written:
            print("Nothing to export: no model call of this kernel was recorded yet (run the notebook first).")
            return
        calls = "call" if done.written == 1 else "calls"
        kept = f", and kept {done.kept} from the file (--replace drops them)" if done.kept else ""
        print(f"Wrote {done.written} recorded model {calls} to {done.path}{kept}")
        print("Commit it next to the notebook; AGENT_MAGIC_REPLAY=strict then replays the notebook with no model.")
        return
    print(f"replay: {library.mode} (AgentMagic.replay; $AGENT_MAGIC_REPLAY)")
    print(f"replay files in {library.folder()}:")
    files = library.files()
    for path, recordings in files.items():
        print(f"  {path.name}: {len(recordings)} recorded calls")
    if not files:
        print("  none (%agent replay export writes one)")


def cells(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Print the code the latest turn ran with run_python as one cell, and offer it as the next cell."""
    turn = ctx.runtime.code_history.last()
    if turn is None:
        print("No turn of this kernel ran code with run_python.")
        return
    block = turn.block()
    print(block)
    # JupyterLab, Notebook and terminal IPython put it in the next cell (prompt); other frontends ignore it.
    ctx.shell.set_next_input(block, replace=False)


COMMANDS = (
    Subcommand(
        "replay",
        "export this kernel's recorded model calls to a file next to the notebook, or show the replay status",
        replay,
        (
            Argument.of("action", choices=["export", "status"], help="export the recordings, or show the status"),
            Argument.of("path", nargs="?", help="the file to write (default: NOTEBOOK.agent-replay.jsonl)"),
            Argument.of("--all", action="store_true", help="export the notebook's recordings from every kernel"),
            Argument.of("--replace", action="store_true", help="drop the recordings the file already has"),
        ),
    ),
    Subcommand("cells", "the code the latest turn ran with run_python, as the next cell", cells),
)
