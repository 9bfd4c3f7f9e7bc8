"""The undo journal: an event subscriber that builds a checkpoint per turn from what the turn reported.

A checkpoint holds the tool calls that ran (`ToolCallStarted`) and the changes they reported
(`ChangesRecorded`: file copies, namespace bindings). The journal keeps the latest `depth()` turns of each
conversation (`AgentMagic.undo_turns`); an older checkpoint is dropped with its file copies, and its
objects are no longer held. Undo reaches the turns run in this kernel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_magic.events import (
    ChangesRecorded,
    Event,
    FileChange,
    NamespaceChange,
    ToolCall,
    ToolCallStarted,
    TurnEnded,
    TurnStarted,
)


@dataclass
class Checkpoint:
    """What one turn did that undo can look at: the calls that ran and the changes they reported."""

    session_id: str
    turn_id: str
    prompt: str
    calls: list[ToolCall] = field(default_factory=list)
    changes: list[FileChange | NamespaceChange] = field(default_factory=list)


def discard(checkpoint: Checkpoint) -> None:
    """Delete the file copies a checkpoint holds (it was undone, or fell out of reach)."""
    from agent_magic.undo.files import FileSnapshots  # hashing and copying load with the first change

    for change in checkpoint.changes:
        if isinstance(change, FileChange):
            FileSnapshots.discard_copy(change.snapshot)


class UndoJournal:
    """Checkpoints of the latest turns of each conversation, from the turns' events.

    Example:
        >>> journal = UndoJournal(depth=lambda: 20)
        >>> for event in events:
        ...     journal.handle(event)
        >>> journal.pop(session_id)   # the last turn's checkpoint, or None   # doctest: +SKIP
    """

    def __init__(self, depth: Callable[[], int]) -> None:
        self.depth = depth
        self._stacks: dict[str, list[Checkpoint]] = {}
        self._running: dict[str, Checkpoint] = {}

    def handle(self, event: Event) -> None:
        """Take one event (never blocks: changes were recorded by the tools already)."""
        if isinstance(event, TurnStarted):
            self._begin(event)
        elif isinstance(event, ToolCallStarted) and event.turn_id in self._running:
            self._running[event.turn_id].calls.append(event.call)
        elif isinstance(event, ChangesRecorded):
            checkpoint = self._running.get(event.turn_id)
            if checkpoint is None:  # undo is off: nothing will ever restore these copies
                discard(Checkpoint(event.session_id, event.turn_id, "", changes=list(event.changes)))
            else:
                checkpoint.changes += [self._lean(checkpoint, change) for change in event.changes]
        elif isinstance(event, TurnEnded):
            self._running.pop(event.turn_id, None)

    @staticmethod
    def _lean(checkpoint: Checkpoint, change: FileChange | NamespaceChange) -> FileChange | NamespaceChange:
        """A file's second and later changes in one turn need no copy (undo restores the state before the
        first): drop it at once, so a turn rewriting one file a hundred times keeps one copy."""
        if isinstance(change, FileChange) and change.snapshot is not None:
            earlier = [
                c
                for c in checkpoint.changes
                if isinstance(c, FileChange) and (c.workspace, c.path) == (change.workspace, change.path)
            ]
            if earlier:
                discard(Checkpoint(checkpoint.session_id, checkpoint.turn_id, "", changes=[change]))
                return dataclasses.replace(change, snapshot=None)
        return change

    def _begin(self, event: TurnStarted) -> None:
        depth = self.depth()
        stack = self._stacks.setdefault(event.session_id, [])
        if depth > 0:
            checkpoint = Checkpoint(event.session_id, event.turn_id, event.prompt)
            stack.append(checkpoint)
            self._running[event.turn_id] = checkpoint
        while len(stack) > depth:
            discard(stack.pop(0))

    def pop(self, session_id: str) -> Checkpoint | None:
        """Take the latest turn's checkpoint of a conversation (None when there is none left)."""
        stack = self._stacks.get(session_id)
        return stack.pop() if stack else None

    def turns(self, session_id: str) -> int:
        """How many turns of the conversation undo can still take back."""
        return len(self._stacks.get(session_id, ()))
