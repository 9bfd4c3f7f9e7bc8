"""The terminal renderer: plain text streamed to stdout, for terminal IPython and scripts."""

from __future__ import annotations

import sys
from typing import TextIO

from agent_magic.events import (
    ApprovalDecided,
    Event,
    ModelCallStarted,
    Notice,
    StreamRestarted,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnState,
)
from agent_magic.ui.format import call_signature, decision_line, ending_line, outcome_line


class TerminalRenderer:
    """Writes the answer as it streams, one line per tool call and outcome."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._out = stream or sys.stdout
        self._mid_line = False

    def _line(self, text: str) -> None:
        if self._mid_line:
            self._out.write("\n")
            self._mid_line = False
        self._out.write(text + "\n")
        self._out.flush()

    def handle(self, event: Event) -> None:
        """Render one event."""
        if isinstance(event, TextDelta):
            self._out.write(event.text)
            self._out.flush()
            self._mid_line = not event.text.endswith("\n")
        elif isinstance(event, ModelCallStarted) and event.step > 1:
            self._line("")
        elif isinstance(event, StreamRestarted):
            self._line(f"[answer restarted: {event.reason}]")
        elif isinstance(event, ToolCallStarted):
            self._line(f"→ {call_signature(event.call)}")
        elif isinstance(event, ToolFinished):
            self._line(f"← {event.call.name}: {outcome_line(event)}")
        elif isinstance(event, ApprovalDecided):
            self._line(decision_line(event).replace("**", "").replace("`", ""))
        elif isinstance(event, Notice):
            self._line(event.message)
        elif isinstance(event, TurnEnded):
            if event.state is not TurnState.COMPLETED:
                self._line(ending_line(event))
            elif self._mid_line:
                self._line("")

    def close(self) -> None:
        """Nothing is buffered: every write is flushed at once."""
