"""The notebook renderer: what a person sees in the running cell while the agent works.

- The answer streams as Markdown: finished blocks settle into outputs of their own and only the open
  block is redrawn, at most once per `interval` (jupyter_server silently drops iopub traffic above ~1000
  messages/s or 1 MB/s), so the bytes sent grow linearly with the answer (`cell_outputs.BlockStream`).
- The model's reasoning, when the server streams it, goes in a "Thinking" block above the answer
  (`thinking.py`, `AgentMagic.show_reasoning`).
- Tool calls are cards that show their elapsed seconds while they run, then their result.
- While nothing streams, one status line says what the turn waits for and for how long (the model, a
  retry backoff counting down, an approval); the next output takes its place. The clock is one asyncio
  timer kept from the events, at most one redraw a second, no thread; the loop never ticks.
- The turn ends with one summary line (`AgentMagic.summary`) carrying the turn's output metadata.

With `live=False` (nobody watching: a headless run) there is no status line, no clock and no redrawn
open block: the saved notebook holds the answer, the cards, the decisions and the summary, nothing else.
Every output carries a text/plain twin once final, so a notebook saved by a headless run reads well.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.display import display

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
from agent_magic.ui.cell_outputs import BlockStream, Bundle, CellOutputs, Output, Show
from agent_magic.ui.format import call_signature, decision_line, ending_line, outcome_line
from agent_magic.ui.progress import TICK_SECONDS, Waiting, clock_text, next_tick, status_line
from agent_magic.ui.thinking import ThinkingBlock
from agent_magic.ui.turn_summary import TurnSummary

log = logging.getLogger("agent_magic.ui")

MAX_SHOWN_RESULT_CHARS = 4_000
# Metadata key of the turn's final output (see `NotebookRenderer`'s `turn_metadata`).
METADATA_KEY = "agent_magic"


def _markdown(text: str, final: bool = True) -> Bundle:
    """Markdown, plus its text/plain twin for saved notebooks; streaming updates skip the twin."""
    return {"text/markdown": text, "text/plain": text} if final else {"text/markdown": text}


def _quiet_line(css_class: str, text: str) -> Bundle:
    """A small grey line (status, summary) with its plain twin."""
    return {"text/html": f"<div class='{css_class}' style='opacity:.7'>{html.escape(text)}</div>", "text/plain": text}


def _pretty_result(event: ToolFinished) -> str:
    """The result as indented JSON (the data, or the error), shortened for the page."""
    if event.ok:
        shown: Any = event.data
    else:
        shown = {"error_code": event.error_code, "content": event.content}
    text = json.dumps(shown, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_RESULT_CHARS:
        text = text[:MAX_SHOWN_RESULT_CHARS] + f"\n… ({len(text):,} characters in all)"
    return text


def _tool_card(signature: str, status: str, body: str | None) -> Bundle:
    """An HTML card (a <details> block when there is a result) with a plain-text twin."""
    summary = f"🔧 <code>{html.escape(signature)}</code> <span style='opacity:.7'>{html.escape(status)}</span>"
    if body is None:
        markup = f"<div class='agent-magic-tool'>{summary}</div>"
    else:
        markup = (
            f"<details class='agent-magic-tool'><summary>{summary}</summary>"
            f"<pre style='max-height:24em;overflow:auto'>{html.escape(body)}</pre></details>"
        )
    return {"text/html": markup, "text/plain": f"🔧 {signature} — {status}"}


@dataclass
class _Card:
    """A running tool call's card."""

    output: Output
    signature: str
    started: float


class NotebookRenderer:
    """Renders a turn's events into the running cell (an `EventSubscriber`).

    `live`: someone watches (status line, clocks, the open block redrawn); `summary`: end with the summary
    line; `show_reasoning`: "collapsed", "expanded" or "hidden". `turn_metadata`, when given, is called in
    `close()` and its result attached as `metadata={"agent_magic": …}` to the turn's final output: the
    summary line, or without it a final update of the turn's last output.

    Example:
        >>> renderer = NotebookRenderer(interval=0.1, turn_metadata=lambda: {"turn": "3f2a…"})
        >>> for event in events:
        ...     renderer.handle(event)
        >>> renderer.close()
    """

    def __init__(
        self,
        *,
        interval: float = 0.1,
        show: Show = display,
        live: bool = True,
        summary: bool = True,
        show_reasoning: str = "collapsed",
        turn_metadata: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.interval = interval
        self.live = live
        self.summary = summary
        self.show_reasoning = show_reasoning
        self._turn_metadata = turn_metadata
        self._outputs = CellOutputs(show)
        self._answer = BlockStream(self._outputs, _markdown, live=live)
        self._thinking: ThinkingBlock | None = None
        self._cards: dict[str, _Card] = {}
        self._tally = TurnSummary()
        self._started = False
        self._waiting: Waiting | None = None
        self._last_flush = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._tick_timer: asyncio.TimerHandle | None = None
        self._closed = False

    # -- streamed text --------------------------------------------------------------------------------

    def _flush(self, *, final: bool = False) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._thinking is not None:
            self._thinking.flush()
        self._answer.flush(final=final)
        self._last_flush = time.monotonic()
        if self.live and self._answer.pending:  # held back by the redraw budget, which grows with time
            self._arm_flush(self.interval)

    def _schedule_flush(self) -> None:
        """Flush now if the interval has passed, else once it has."""
        wait = self.interval - (time.monotonic() - self._last_flush)
        if wait <= 0:
            self._flush()
        else:
            self._arm_flush(wait)

    def _arm_flush(self, wait: float) -> None:
        if self._flush_timer is None and not self._closed:
            loop = _running_loop()
            if loop is not None:  # no loop (a synchronous caller): the next piece or the end flushes
                self._flush_timer = loop.call_later(wait, self._flush)

    def _on_text(self, text: str) -> None:
        self._stop_waiting()
        if self._thinking is not None:
            self._thinking.answer_started()
        self._answer.add(text)
        self._schedule_flush()

    def _on_reasoning(self, text: str) -> None:
        if self.show_reasoning == "hidden":
            return  # nothing shown: the status line keeps counting the wait for the model
        self._stop_waiting()
        if self._thinking is None:
            expanded = self.show_reasoning == "expanded"
            self._thinking = ThinkingBlock(self._outputs, expanded=expanded, live=self.live)
        self._thinking.add(text)
        self._schedule_flush()

    def _finish_thinking(self, reasoning_tokens: int | None = None) -> None:
        if self._thinking is not None:
            self._thinking.finish(reasoning_tokens)

    def _end_message(self) -> None:
        """The model's message is over (or something else comes next): settle what it streamed."""
        self._finish_thinking()
        self._flush(final=True)
        self._answer = BlockStream(self._outputs, _markdown, live=self.live)
        self._thinking = None

    # -- the clock ------------------------------------------------------------------------------------

    def _wait(self, waiting: Waiting) -> None:
        """The turn waits from now on: the status line appears a second later, if still waiting."""
        if self.live:
            self._waiting = waiting
            if self._tick_timer is not None:  # ticks count the seconds of this wait from now on
                self._tick_timer.cancel()
                self._tick_timer = None
            self._arm_tick()

    def _stop_waiting(self) -> None:
        self._waiting = None

    def _arm_tick(self, delay: float = TICK_SECONDS) -> None:
        if not self.live or self._closed or self._tick_timer is not None:
            return
        if self._waiting is not None or self._cards:
            loop = _running_loop()
            if loop is not None:
                self._tick_timer = loop.call_later(delay, self._tick)

    def _tick(self) -> None:
        """Redraw the status line and the clocks of running tool cards."""
        self._tick_timer = None
        now = time.monotonic()
        if self._waiting is not None:
            self._outputs.show_status(_quiet_line("agent-magic-status", status_line(self._waiting, now)))
        for card in self._cards.values():
            if now - card.started >= TICK_SECONDS:  # a quick tool never shows a clock
                card.output.update(_tool_card(card.signature, f"running… {clock_text(now - card.started)}", None))
        self._arm_tick(next_tick(self._waiting, now))

    # -- events ---------------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Render one event."""
        self._tally.apply(event)
        if isinstance(event, TextDelta):
            self._on_text(event.text)
        elif isinstance(event, ReasoningDelta):
            self._on_reasoning(event.text)
        elif isinstance(event, TurnStarted):
            self._started = True
        elif isinstance(event, ModelCallStarted):
            self._end_message()
            self._wait(Waiting("model", event.model, time.monotonic()))
        elif isinstance(event, Usage):
            self._finish_thinking(event.reasoning_tokens)
        elif isinstance(event, AssistantMessage):
            self._stop_waiting()
            self._end_message()
        elif isinstance(event, StreamRestarted):
            self._restart(event)
        elif isinstance(event, Notice):
            self._note(event.message)
            if event.retry_in_s is not None and self._tally.model:
                now = time.monotonic()
                self._wait(Waiting("model", self._tally.model, now, retry_at=now + event.retry_in_s))
        elif isinstance(event, ToolCallStarted):
            self._end_message()
            self._start_card(event)
        elif isinstance(event, ToolFinished):
            self._finish_card(event)
        elif isinstance(event, ApprovalRequested):
            self._end_message()
            self._outputs.drop_status()  # the approval prompt is shown below: a slot above it stays empty
            self._wait(Waiting("approval", event.call.name, time.monotonic()))
        elif isinstance(event, ApprovalDecided):
            self._note(decision_line(event))
        elif isinstance(event, TurnEnded):
            self._stop_waiting()
            self._end_message()
            if event.state is not TurnState.COMPLETED:
                self._note(ending_line(event))

    def _restart(self, event: StreamRestarted) -> None:
        """A retry after output was shown: take back the partial answer, say why, count down to the retry."""
        if self._thinking is not None:
            self._thinking.discard()
            self._thinking = None
        self._answer.discard()
        self._note(f"*(the answer restarted: {event.reason})*")
        if event.retry_in_s is not None:
            now = time.monotonic()
            self._wait(Waiting("model", self._tally.model, now, retry_at=now + event.retry_in_s))

    def _start_card(self, event: ToolCallStarted) -> None:
        self._stop_waiting()
        signature = call_signature(event.call)
        output = self._outputs.add(_tool_card(signature, "running…", None))
        self._cards[event.call.call_id] = _Card(output, signature, time.monotonic())
        if self._waiting is None and self._tick_timer is not None:  # tick on this card's whole seconds
            self._tick_timer.cancel()
            self._tick_timer = None
        self._arm_tick()

    def _finish_card(self, event: ToolFinished) -> None:
        card = self._cards.pop(event.call.call_id, None)
        bundle = _tool_card(call_signature(event.call), outcome_line(event), _pretty_result(event))
        if card is None:
            self._outputs.add(bundle)  # a result without a start (refused before running)
        else:
            card.output.update(bundle)

    def _note(self, text: str) -> None:
        self._stop_waiting()
        self._end_message()
        self._outputs.add(_markdown(text))

    # -- the end --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Settle everything, stop the clock, and end the turn with its summary line (and metadata)."""
        self._closed = True
        self._stop_waiting()
        self._end_message()
        if self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None
        if not self._started:
            self._outputs.drop_status()
            return
        metadata = self._metadata()
        if self.summary:
            line = self._tally.line(now=time.time())
            self._outputs.add(_quiet_line("agent-magic-summary", line), metadata)
            return
        self._outputs.drop_status()
        if metadata is not None:
            last = self._outputs.last
            if last is not None:
                last.update(last.bundle, metadata)
            else:
                self._outputs.add({"text/plain": ""}, metadata)

    def _metadata(self) -> dict[str, Any] | None:
        """The turn's output metadata, `{"agent_magic": …}`; None without a provider, when it has no record
        (a turn that never started) or when it failed."""
        if self._turn_metadata is None:
            return None
        try:
            record = self._turn_metadata()
        except Exception:  # the record is extra: a failing provider must not lose the turn's display
            log.exception("building the turn's output metadata failed")
            return None
        return {METADATA_KEY: record} if record else None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
