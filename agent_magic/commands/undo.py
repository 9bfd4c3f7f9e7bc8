"""The undo subcommand: take back the last turn of the current conversation, and say what it did."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError
from IPython.display import display

from agent_magic.commands.table import CommandContext, Subcommand
from agent_magic.events import TurnUndone


def _show(lines: list[str]) -> None:
    """Markdown in the notebook, with a plain-text twin for terminals and saved notebooks."""
    markdown = "\n".join(lines)
    display({"text/markdown": markdown, "text/plain": markdown.replace("`", "")}, raw=True)


def undo(ctx: CommandContext, _args: argparse.Namespace) -> None:
    """Take back the last turn: restore the files it changed and the names its code bound, take it out of
    the transcript, and say plainly what cannot be undone."""
    from agent_magic.undo.journal import discard
    from agent_magic.undo.restore import undo_checkpoint

    runtime = ctx.runtime
    conversation = runtime.conversations.current
    session = conversation.session
    checkpoint = runtime.undo_journal.pop(session.session_id)
    if checkpoint is None:
        if runtime.config.undo_turns == 0:
            raise UsageError("undo is off (AgentMagic.undo_turns = 0): nothing was kept to undo with")
        raise UsageError(
            f"nothing to undo in session {conversation.name!r}: undo takes back the turns run in this kernel, "
            f"the latest first, up to AgentMagic.undo_turns = {runtime.config.undo_turns}"
        )
    report = undo_checkpoint(checkpoint, runtime.namespace, session.tools)
    rewound = session.rewind(checkpoint.turn_id)
    undone = TurnUndone(
        session_id=session.session_id,
        turn_id="",
        undone_turn=checkpoint.turn_id,
        restored=report.restored,
        refused=report.refused,
        not_undone=report.not_undone,
    )
    runtime.publish([rewound, undone] if rewound is not None else [undone])
    discard(checkpoint)
    prompt = " ".join(checkpoint.prompt.split())
    lines = [
        f"↩ **Undid the last turn** of session `{conversation.name}`: *{prompt[:80]}{'…' * (len(prompt) > 80)}*",
        "",
    ]
    lines += [f"- ✅ {line}" for line in report.restored]
    lines += [f"- ⚠️ {line}" for line in report.refused]
    lines += [f"- ✋ {line}" for line in report.not_undone]
    if rewound is not None:
        lines.append(
            f"- 💬 the turn left the conversation ({rewound.removed_messages} messages): the model will not see it"
        )
    else:
        lines.append("- 💬 a compaction had already summarised the turn: the summary still mentions it")
    left = runtime.undo_journal.turns(session.session_id)
    lines += ["", f"{left} more turn{'s' * (left != 1)} can be undone." if left else "No earlier turn can be undone."]
    _show(lines)


COMMANDS = (Subcommand("undo", "take back the last turn: its file changes, variables and messages", undo),)
