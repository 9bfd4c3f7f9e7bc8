"""The terminal renderer: plain text streamed to stdout, for terminal IPython and scripts.

On a terminal (a TTY) one status line at the bottom is rewritten in place while the turn waits (for the
model, a retry, a running tool), from one asyncio timer at most once a second, and erased when content
arrives; written to a file or a pipe, there is no status churn. The model's reasoning is a one-line
note ("collapsed"), streamed dimmed ("expanded") or left out ("hidden"); each turn ends with its summary
line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    Event,
    ModelCallStarted,
    Notice,
    ReasoningDelta,
    StreamRestarted,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ui.format import call_signature, decision_line, ending_line, outcome_line
from agent_magic.ui.progress import TICK_SECONDS, Waiting, clock_text, next_tick, status_line
from agent_magic.ui.turn_summary import TurnSummary

ERASE_LINE = "\r\033[K"
DIM, NORMAL = "\033[2m", "\033[0m"


class TerminalRenderer:
    """Writes the answer as it streams, one line per tool call and outcome, and the summary at the end.

    `live` (default: the stream is a TTY) enables the rewritten status line and dimmed reasoning.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        summary: bool = True,
        show_reasoning: str = "collapsed",
        live: bool | None = None,
    ) -> None:
        self._out = stream or sys.stdout
        self.summary = summary
        self.show_reasoning = show_reasoning
        self.live = _is_tty(self._out) if live is None else live
        self._mid_line = False
        self._status_shown = False
        self._waiting: Waiting | None = None
        self._running: dict[str, tuple[str, float]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tally = TurnSummary()
        self._started = False
        self._thinking_since: float | None = None
        self._thinking_chars = 0

    # -- writing --------------------------------------------------------------------------------------

    def _write(self, text: str, *, dim: bool = False) -> None:
        self._erase_status()
        self._out.write(f"{DIM}{text}{NORMAL}" if dim else text)
        self._out.flush()
        if text:
            self._mid_line = not text.endswith("\n")

    def _line(self, text: str) -> None:
        self._write(("\n" if self._mid_line else "") + text + "\n")

    def _erase_status(self) -> None:
        if self._status_shown:
            self._out.write(ERASE_LINE)
            self._status_shown = False

    def _show_status(self, text: str) -> None:
        if self._mid_line:
            self._write("\n")
        self._out.write(ERASE_LINE + text)
        self._out.flush()
        self._status_shown = True

    # -- the clock ------------------------------------------------------------------------------------

    def _arm(self, delay: float = TICK_SECONDS) -> None:
        if not self.live or self._timer is not None or not (self._waiting or self._running or self._thinking_since):
            return
        try:
            self._timer = asyncio.get_running_loop().call_later(delay, self._tick)
        except RuntimeError:  # no loop (a synchronous caller): no clock
            pass

    def _tick(self) -> None:
        self._timer = None
        now = time.monotonic()
        if self._thinking_since is not None:
            self._show_status(self._thinking_line(now, "thinking…"))
        elif self._waiting is not None:
            self._show_status(status_line(self._waiting, now))
        elif self._running:
            (name, started), *others = self._running.values()
            if now - started >= TICK_SECONDS:  # a quick tool never shows a clock
                more = f" (+{len(others)} more)" if others else ""
                self._show_status(f"⚙ {name} running — {clock_text(now - started)}{more}")
        self._arm(next_tick(self._waiting, now))

    def _wait(self, waiting: Waiting) -> None:
        self._waiting = waiting
        if self._timer is not None:  # ticks count the seconds of this wait from now on
            self._timer.cancel()
            self._timer = None
        self._arm()

    # -- reasoning ------------------------------------------------------------------------------------

    def _thinking_line(self, now: float, verb: str) -> str:
        assert self._thinking_since is not None
        return f"💭 {verb} {clock_text(now - self._thinking_since)} · {self._thinking_chars:,} characters"

    def _on_reasoning(self, text: str) -> None:
        if self.show_reasoning == "hidden":
            return
        self._waiting = None
        if self._thinking_since is None:
            self._thinking_since = time.monotonic()
            if self.live and self.show_reasoning == "collapsed":
                self._show_status(self._thinking_line(self._thinking_since, "thinking…"))
            self._arm()
        self._thinking_chars += len(text)
        if self.show_reasoning == "expanded":
            self._write(text, dim=self.live)

    def _end_thinking(self) -> None:
        """The reasoning is over: one line says how long and how much (collapsed), or the dimmed text
        ends on its own line (expanded)."""
        if self._thinking_since is None:
            return
        if self.show_reasoning == "collapsed":
            self._line(self._thinking_line(time.monotonic(), "thought for"))
        elif self._mid_line:
            self._line("")
        self._thinking_since, self._thinking_chars = None, 0

    # -- events ---------------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Render one event."""
        self._tally.apply(event)
        if isinstance(event, TextDelta):
            self._waiting = None
            self._end_thinking()
            self._write(event.text)
        elif isinstance(event, ReasoningDelta):
            self._on_reasoning(event.text)
        elif isinstance(event, TurnStarted):
            self._started = True
        elif isinstance(event, ModelCallStarted):
            if event.step > 1:
                self._line("")
            self._wait(Waiting("model", event.model, time.monotonic()))
        elif isinstance(event, Usage | AssistantMessage):
            self._waiting = None
            self._end_thinking()
        elif isinstance(event, StreamRestarted):
            self._end_thinking()
            self._line(f"[answer restarted: {event.reason}]")
            self._retry_countdown(event.retry_in_s)
        elif isinstance(event, Notice):
            self._line(event.message)
            self._retry_countdown(event.retry_in_s)
        elif isinstance(event, ToolCallStarted):
            self._waiting = None
            self._line(f"→ {call_signature(event.call)}")
            self._running[event.call.call_id] = (event.call.name, time.monotonic())
            self._arm()
        elif isinstance(event, ToolFinished):
            self._running.pop(event.call.call_id, None)
            self._line(f"← {event.call.name}: {outcome_line(event)}")
        elif isinstance(event, ApprovalRequested):
            self._erase_status()  # the approver asks on this terminal now: input() holds the loop
        elif isinstance(event, ApprovalDecided):
            self._line(decision_line(event).replace("**", "").replace("`", ""))
        elif isinstance(event, TurnEnded):
            self._waiting = None
            self._end_thinking()
            if event.state is not TurnState.COMPLETED:
                self._line(ending_line(event))
            elif self._mid_line:
                self._write("\n")

    def _retry_countdown(self, retry_in_s: float | None) -> None:
        if retry_in_s is not None and self._tally.model:
            now = time.monotonic()
            self._wait(Waiting("model", self._tally.model, now, retry_at=now + retry_in_s))

    def close(self) -> None:
        """Stop the clock, erase the status line, and end with the summary line."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting, self._running = None, {}
        self._end_thinking()
        self._erase_status()
        if self._mid_line:
            self._write("\n")
        if self.summary and self._started:
            self._line(self._tally.line(now=time.time()))
        self._out.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no terminal tricks
        return False
